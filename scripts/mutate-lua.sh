#!/usr/bin/env bash
# Mutation check of the differential test: for every line of a generated
# Lua script that holds an arithmetic or comparison operator, flip one
# operator, run the script-vs-Go differential test (and the division
# helpers' test) on real Redis, and
# expect it to fail. Prints the mutants that survived; exits 1 if any did.
# Each script is restored from a backup copy after its mutants ran.
set -uo pipefail
cd "$(git rev-parse --show-toplevel)"
survivors=0 killed=0
backup=$(mktemp -d)
cp store/redisstore/lua/*.lua "$backup"/
trap 'cp "$backup"/*.lua store/redisstore/lua/; rm -rf "$backup"' EXIT
for f in store/redisstore/lua/*.lua; do
  # The prelude's division helpers and the translated step/init functions:
  # from "local function floorDiv" to the glue.
  start=$(grep -n '^local function floorDiv' "$f" | cut -d: -f1)
  stop=$(grep -n '^local spack' "$f" | cut -d: -f1)
  if [ -z "$start" ] || [ -z "$stop" ]; then
    echo "$f: cannot find the translated functions"; exit 2
  fi
  for ((n = start; n < stop; n++)); do
    line=$(sed -n "${n}p" "$f")
    mutated=""
    for pair in ' <= / < ' ' >= / > ' ' < / > ' ' > / < ' ' + / - ' ' - / + ' ' \* / + ' 'floorDiv/ceilDiv' 'ceilDiv/floorDiv' ' == / ~= ' ' ~= / == '; do
      from=${pair%%/*} to=${pair#*/}
      if grep -q -- "$from" <<<"$line"; then
        mutated=$(sed "s/$from/$to/" <<<"$line"); break
      fi
    done
    [ -z "$mutated" ] && continue
    [ "$mutated" = "$line" ] && continue
    awk -v n="$n" -v m="$mutated" 'NR==n {print m; next} {print}' "$f" > "$f.tmp" && mv "$f.tmp" "$f"
    if go test -count=1 -run 'TestScriptsMatchGo|TestLuaDivision' ./store/redisstore/ >/dev/null 2>&1; then
      echo "SURVIVED $f:$n: $line  =>  $mutated"; survivors=$((survivors + 1))
    else
      killed=$((killed + 1))
    fi
    cp "$backup/$(basename "$f")" "$f"
  done
done
echo "mutants killed: $killed, survived: $survivors"
[ "$survivors" = 0 ]
