#!/usr/bin/env bash
# make mutate: mutation testing of every hand-written package with gremlins.
#
# Each package's mutants run that package's own tests (gremlins unleash on
# the package's absolute path, from its module's root, with GOFLAGS=-count=1
# so no cached result hides a mutant). Survivors listed in
# scripts/mutants-equivalent.txt (with the reason each cannot change
# behaviour) are excluded, not counted as killed. The summary table goes to
# stdout and to mutate.out/summary.md; the per-package JSON to mutate.out/.
#
#   make mutate                       # every package (tens of minutes on 2 cores)
#   PACKAGES="algo typed" make mutate # some of them (MUTATE_OUT=dir to keep runs apart)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
GREMLINS_VERSION=v0.6.0
gremlins=$(go env GOPATH)/bin/gremlins
if ! "$gremlins" --version 2>/dev/null | grep -q "${GREMLINS_VERSION#v}"; then
	GOFLAGS= go install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION"
fi
# module:package pairs; the module is the directory holding its go.mod.
default_packages=(
	.:algo .:async .:internal/clock .:internal/storeutil .:store .:store/memstore
	.:store/redisstore .:typed .:. .:httplimit .:gen
	.:internal/redistest .:cmd/throttled-bench .:cmd/throttled-charts
	contrib/otel:. contrib/mcpsdk:. contrib/mcpgo:.
)
read -r -a packages <<<"${PACKAGES:-${default_packages[*]}}"
out="${MUTATE_OUT:-$root/mutate.out}"
rm -rf "$out"
mkdir -p "$out"
export GOFLAGS=-count=1 THROTTLED_REQUIRE_REDIS=${THROTTLED_REQUIRE_REDIS:-1}
start=$(date +%s)
for entry in "${packages[@]}"; do
	mod=${entry%%:*}
	pkg=${entry#*:}
	[ "$entry" = "$mod" ] && { mod=.; pkg=$entry; }
	name=$(echo "$mod/$pkg" | sed 's|^\./||; s|/\.$||; s|^\.$|root|; s|/|_|g')
	echo "== $mod $pkg"
	(cd "$root/$mod" && "$gremlins" unleash --workers 1 --timeout-coefficient 6 \
		--exclude-files '_gen\.go$' --exclude-files '_test\.go$' --exclude-files '/' \
		-o "$out/$name.json" "$(cd "$root/$mod/$pkg" && pwd)") >"$out/$name.log" 2>&1 || true
	tail -4 "$out/$name.log"
	(cd "$root/$mod" && go test -count=1 -cover "./$pkg" 2>&1 | tail -1) >"$out/$name.cover" || true
done
echo "wall time: $(( $(date +%s) - start )) s" | tee "$out/wall"
go run ./scripts/mutatereport -dir "$out" -equivalent scripts/mutants-equivalent.txt | tee "$out/summary.md"
