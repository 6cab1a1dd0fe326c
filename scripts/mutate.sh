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
	.:algo .:async .:internal/clock .:internal/faststep .:internal/latencyproxy .:internal/storeutil .:store .:store/memstore
	.:store/redisstore .:typed .:. .:httplimit .:gen
	.:internal/redistest .:cmd/throttled-bench .:cmd/throttled-charts
	contrib/otel:. contrib/mcpsdk:. contrib/mcpgo:.
)
read -r -a packages <<<"${PACKAGES:-${default_packages[*]}}"
out="${MUTATE_OUT:-$root/mutate.out}"
rm -rf "$out"
mkdir -p "$out"
export THROTTLED_REQUIRE_REDIS=${THROTTLED_REQUIRE_REDIS:-1}

# Two gremlins v0.6.0 quirks, worked around here:
#  - For a package main (gen, the cmd tools) it runs `go test <module path>`,
#    the root package's tests, from the package's directory: a `go` wrapper
#    first on PATH turns that run into `go test .` (MUTATE_MAIN_MODULE).
#  - It copies only the module's directory, so a module whose go.mod says
#    `replace ... => ../..` (contrib/*) would not build: such a module runs
#    with -modfile, a copy of its go.mod replacing to this checkout.
wrap=$(mktemp -d)
trap 'rm -rf "$wrap"' EXIT
realgo=$(command -v go)
cat >"$wrap/go" <<WRAP
#!/bin/sh
if [ "\$1" = test ] && [ -n "\$MUTATE_MAIN_MODULE" ]; then
	for last; do :; done
	if [ "\$last" = "\$MUTATE_MAIN_MODULE" ]; then
		n=\$#; i=0
		for a; do
			i=\$((i+1))
			[ \$i -eq 1 ] && set --
			[ \$i -lt \$n ] && set -- "\$@" "\$a"
		done
		exec "$realgo" "\$@" .
	fi
fi
exec "$realgo" "\$@"
WRAP
chmod +x "$wrap/go"

start=$(date +%s)
for entry in "${packages[@]}"; do
	mod=${entry%%:*}
	pkg=${entry#*:}
	[ "$entry" = "$mod" ] && { mod=.; pkg=$entry; }
	name=$(echo "$mod/$pkg" | sed 's|^\./||; s|/\.$||; s|^\.$|root|; s|/|_|g')
	echo "== $mod $pkg"
	flags=-count=1
	if grep -q '=> \.\./\.\.$' "$root/$mod/go.mod"; then
		sed "s|=> \.\./\.\.\$|=> $root|" "$root/$mod/go.mod" >"$wrap/$name.mod"
		cp "$root/$mod/go.sum" "$wrap/$name.sum"
		flags="$flags -modfile=$wrap/$name.mod"
	fi
	main=
	if [ "$(cd "$root/$mod" && go list -f '{{.Name}}' "./$pkg")" = main ]; then
		main=$(cd "$root/$mod" && go list -m)
	fi
	(cd "$root/$mod" && PATH="$wrap:$PATH" GOFLAGS="$flags" MUTATE_MAIN_MODULE="$main" \
		"$gremlins" unleash --workers 1 --timeout-coefficient 6 \
		--exclude-files '_gen\.go$' --exclude-files '_test\.go$' --exclude-files '/' \
		-o "$out/$name.json" "$(cd "$root/$mod/$pkg" && pwd)") >"$out/$name.log" 2>&1 || true
	tail -4 "$out/$name.log"
	(cd "$root/$mod" && GOFLAGS=-count=1 go test -cover "./$pkg" 2>&1 | tail -1) >"$out/$name.cover" || true
done
echo "wall time: $(( $(date +%s) - start )) s" | tee "$out/wall"
go run ./scripts/mutatereport -dir "$out" -equivalent scripts/mutants-equivalent.txt | tee "$out/summary.md"
