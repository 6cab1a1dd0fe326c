# throttled for Go. `make test` is what CI runs (via .ci/run).
SHELL         := /bin/bash
GO            ?= go
STATICCHECK   ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT     ?= golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
GENERATED      = store/redisstore/lua store/redisstore/*_gen.go internal/steps docs/algorithms docs/bench
RAPID_LONG    ?= 2000
# Modules of their own (integrations with dependencies the core must not
# have); make test vets, lints and tests each of them too.
MODULES        = contrib/otel contrib/mcpsdk contrib/mcpgo examples/prometheus examples/mcp bench/peers

.PHONY: all generate check-generated vet lint test test-short bench bench-table bench-peers proptest-long mutate mutate-lua

all: test

## generate: regenerate the Lua scripts and store bindings from algo/
generate:
	$(GO) generate ./...

## check-generated: fail when the checked-in generated files are stale
check-generated: generate
	@stale=$$(git status --porcelain -- $(GENERATED)); \
	if [ -n "$$stale" ]; then echo "generated files are stale; run make generate and commit:"; echo "$$stale"; exit 1; fi

## vet: go vet and gofmt, in the core module and in every module of MODULES
vet:
	$(GO) vet ./...
	@set -e; for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...); done
	@fmt=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); if [ -n "$$fmt" ]; then echo "gofmt -l:"; echo "$$fmt"; exit 1; fi

## lint: vet plus staticcheck (fetched from the module proxy), and go.mod tidiness of every module
lint: vet
	$(GO) run $(STATICCHECK) ./...
	@set -e; for m in $(MODULES); do echo "staticcheck ($$m)"; (cd $$m && $(GO) mod tidy -diff && $(GO) run $(STATICCHECK) ./...); done

## test: vet, staticcheck, generated-code freshness, and every test of every module with the race detector
test: lint check-generated
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'Alloc' ./typed/ ./store/memstore/ . # allocation counts, without -race (which makes sync.Pool drop items)
	@set -e; for m in $(filter-out bench/peers,$(MODULES)); do echo "go test ($$m)"; (cd $$m && $(GO) test -race -count=1 ./...); done

## test-short: quick run without the race detector
test-short:
	$(GO) test -short -count=1 ./...

## proptest-long: property tests with 20x the checks and 2x longer traces (about 10 minutes), then FuzzKeys for FUZZ_LONG (needs redis-server)
RAPID_LONG_STEPS ?= 60
FUZZ_LONG        ?= 2m
proptest-long:
	$(GO) test -count=1 -timeout 1h ./proptest/ -rapid.checks=$(RAPID_LONG) -rapid.steps=$(RAPID_LONG_STEPS)
	$(GO) test -count=1 -timeout 1h -run '^$$' -fuzz '^FuzzKeys$$' -fuzztime $(FUZZ_LONG) ./proptest/

## bench: a benchstat-ready run of the package benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./... | tee bench.out
	@echo "compare runs with: go run $(BENCHSTAT) old.out bench.out"

## bench-table: throttled-py's benchmark table (memory; add REDIS_URL=redis://... for the Redis columns)
bench-table:
	$(GO) run ./cmd/throttled-bench $(if $(REDIS_URL),-redis $(REDIS_URL))

## bench-peers: the same workloads on the Go peers, side by side
bench-peers:
	cd bench/peers && $(GO) run . $(if $(REDIS_URL),-redis $(REDIS_URL))

## mutate: gremlins over every hand-written package, each mutant against its package's tests; a summary table (tens of minutes)
mutate:
	./scripts/mutate.sh

## mutate-lua: flip each arithmetic/comparison line of the generated Lua in turn; the differential test must fail every time
mutate-lua:
	./scripts/mutate-lua.sh
