#!/usr/bin/env bash
# Mutation check of the Redis scripts' differential tests.
#
# The mutated parts are, in store/redisstore/lua/throttled.lua, the
# prelude's helpers and the translated step (and init) functions, from
# "local function floorDiv" to the general path's glue ("-- The general
# path"), and the same functions written inline in the one-policy path;
# and in each algorithm's single-decision script (lua/<algorithm>.lua) the
# init and step written inline. Inline means their "repeat -- …, inline"
# blocks, helpers expanded. For every code line there (comments and
# function headers aside) and every operator on it, each occurrence in
# turn is flipped (< and <=, > and >=, == and ~=, + and -, * to +,
# floorDiv and ceilDiv, min and max, and and or), one mutant at a time.
# Each mutant must make the differential tests (the scripts against
# internal/steps, one policy and several), the prelude's test or the
# inline helpers' test (every expansion on the prelude's edge cases) fail
# on a real Redis.
#
# The mutants are files in a temporary directory, each named like the
# script it mutates: the tests read a script from THROTTLED_TEST_SCRIPT in
# place of the embedded one of that name (see TestMain in
# differential_test.go), so the test binary is built once and the
# checked-in scripts are never modified. The unmutated scripts must pass
# first, else every mutant would count as killed. Mutants listed in
# EQUIVALENT below compute the same results as the script (they are
# reported, not failures). Prints the mutants that survived; exits 1 if
# any did.
#
# Environment: MUTATE_JOBS (default 2) mutants run at once.
set -uo pipefail
cd "$(git rev-parse --show-toplevel)"
general=store/redisstore/lua/throttled.lua
tests='^(TestScriptMatchesGo|TestScriptMatchesGoMulti|TestLuaPrelude|TestScriptInlineHelpers)$'
jobs=${MUTATE_JOBS:-2}

# Mutants that cannot change a result, as "line text<TAB>mutated text",
# each with the reason.
EQUIVALENT=(
  # now == s_Last: lag would be 0 and now already s_Last.
  $'  if now < s_Last then\t  if now <= s_Last then'
  # floorDiv, ceilDiv at a = -2^52: the % branch is exact there too
  # (TestLuaPrelude checks a = -2^52 with every edge divisor).
  $'  if a > -4503599627370496 then\t  if a >= -4503599627370496 then'
  # The same in the inline expansions (their temporaries h1, h2, … read h#).
  $'  if h# > -4503599627370496 then\t  if h# >= -4503599627370496 then'
  # leaking bucket, water == 0: untilEmpty is 0, and elapsed >= 0 empties it anyway.
  $'  if water > 0 then\t  if water >= 0 then'
  # token bucket, level == Capacity: untilFull is 0, and elapsed >= 0 fills it anyway.
  $'  if level < q_Capacity then\t  if level <= q_Capacity then'
  # max and min written inline, equal operands: either is the result.
  $'  if h# < h#b then -- max\t  if h# <= h#b then -- max'
  $'  if h# > h#b then -- min\t  if h# >= h#b then -- min'
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/redisstore.test" ./store/redisstore/ || exit 2

# run SCRIPT LOG: runs the tests on SCRIPT; succeeds iff they pass.
run() {
  (cd store/redisstore && THROTTLED_TEST_SCRIPT="$1" THROTTLED_REQUIRE_REDIS=1 \
    "$work/redisstore.test" -test.run "$tests" -test.count=1 >"$2" 2>&1)
}

if ! run "$PWD/$general" "$work/original.out"; then
  cat "$work/original.out"
  echo "the tests fail on the unmutated script: nothing to measure"
  exit 2
fi

start=$(grep -n '^local function floorDiv' "$general" | cut -d: -f1)
stop=$(grep -n '^-- The general path' "$general" | cut -d: -f1)
if [ -z "$start" ] || [ -z "$stop" ] || ! grep -q '^ *repeat -- .*, inline' "$general"; then
  echo "$general: cannot find the prelude, the translated functions and their inline forms"
  exit 2
fi
singles=$(ls store/redisstore/lua/*.lua | grep -v '/throttled\.lua$')
if [ -z "$singles" ]; then
  echo "store/redisstore/lua: no single-decision scripts"
  exit 2
fi
for f in $singles; do
  if ! grep -q '^ *repeat -- .*, inline' "$f"; then
    echo "$f: cannot find the inline init and step"
    exit 2
  fi
done
# lines FILE [START STOP]: the lines to mutate, the inline blocks, then
# START..STOP-1.
lines() {
  awk -v start="${2:-0}" -v stop="${3:-0}" '
    /^ *repeat -- .*, inline/ { inl = 1 }
    inl || (NR >= start && NR < stop) { print NR }
    /^ *until true$/ { inl = 0 }' "$1"
}

pairs=(' <= / < ' ' < / <= ' ' >= / > ' ' > / >= ' ' == / ~= ' ' ~= / == '
  ' + / - ' ' - / + ' ' \* / + ' 'floorDiv(/ceilDiv(' 'ceilDiv(/floorDiv('
  'min(/max(' 'max(/min(' ' and / or ' ' or / and ')

# Write every mutant, and a list of
# "number<TAB>file<TAB>line<TAB>original<TAB>mutated".
: >"$work/list"
m=0
# mutate FILE LINES...: the mutants of those lines of FILE.
mutate() {
  local script=$1 n line pair from to count k mutated
  shift
  for n in "$@"; do
    line=$(sed -n "${n}p" "$script")
    if [[ -z $line || $line =~ ^[[:space:]]*-- || $line == 'local function '* || $line =~ ^[[:space:]]*repeat ]]; then
      continue
    fi
    for pair in "${pairs[@]}"; do
      from=${pair%%/*} to=${pair#*/}
      count=$(grep -o -- "$from" <<<"$line" | wc -l)
      for ((k = 1; k <= count; k++)); do
        mutated=$(sed "s/$from/$to/$k" <<<"$line")
        [ "$mutated" = "$line" ] && continue
        m=$((m + 1))
        mkdir "$work/m$m"
        awk -v n="$n" -v l="$mutated" 'NR==n {print l; next} {print}' "$script" >"$work/m$m/$(basename "$script")"
        printf '%s\t%s\t%s\t%s\t%s\n' "$m" "$script" "$n" "$line" "$mutated" >>"$work/list"
      done
    done
  done
}
mutate "$general" $(lines "$general" "$start" "$stop")
for f in $singles; do
  mutate "$f" $(lines "$f")
done
echo "$m mutants of $general (inline blocks and lines $start-$((stop - 1))) and of the inline blocks of" $singles", $jobs at a time"

export -f run
export work tests
cut -f1 "$work/list" | xargs -P "$jobs" -I{} bash -c 'if run "$(ls -d "$work"/m{}/*.lua)" "$work/m{}.out"; then echo {} >"$work/m{}.survived"; fi'

# norm drops the indentation of both lines (the inline copies are indented
# deeper) and writes the inline temporaries h1, h2, … as h#.
norm() { sed 's/^ *//; s/\t */\t/; s/\bh[0-9][0-9]*/h#/g' <<<"$1"; }

killed=0 survived=0 equivalent=0
while IFS=$'\t' read -r i script n line mutated; do
  if [ ! -e "$work/m$i.survived" ]; then
    killed=$((killed + 1))
    continue
  fi
  for e in "${EQUIVALENT[@]}"; do
    if [ "$(norm "$e")" = "$(norm "$line"$'\t'"$mutated")" ]; then
      equivalent=$((equivalent + 1))
      echo "equivalent $script:$n: $line  =>  $mutated"
      continue 2
    fi
  done
  survived=$((survived + 1))
  echo "SURVIVED $script:$n: $line  =>  $mutated"
done <"$work/list"
echo "mutants killed: $killed, survived: $survived, equivalent: $equivalent"
[ "$survived" = 0 ]
