#!/usr/bin/env bash
# The test matrix: every leg in parallel, each into its own log, one summary line per leg.
#
#   node20  npm test: build + every suite under test/ (unit, e2e on Express 5 / Koa 3, matrix
#           on Express 4 / Koa 2, browser, reliability, examples), on the Node running this
#   node22  the unit, e2e and matrix suites on Node 22, taken from the npm registry (npx -p node@22)
#   node24  the same on Node 24
#   pack    the npm pack tarball, packed with no dist/ as from a fresh clone, linted (publint,
#           attw), in fresh apps: ESM, require(), both at once, strict TypeScript, Jest (Node 20, 22)
#   types   tsc --noEmit over src, tests, examples
#
# node20 runs first, alone (see below); the other legs then run side by side: vitest gives each
# run one worker on 2 cores, and those suites spend most of their time waiting on sockets.
#
# Needs node_modules installed (npm ci). Logs: test-artifacts/ci/<leg>.log (MATRIX_LOGS to move).
# Runs only the named legs when given some: scripts/matrix.sh node22 pack
# Exits non-zero when any leg fails; a failing leg's log is printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOGS=${MATRIX_LOGS:-test-artifacts/ci}
LEG_TIMEOUT=${LEG_TIMEOUT:-900} # s; a hung leg fails instead of holding CI
VITEST=node_modules/vitest/vitest.mjs
# What the Node 22 and 24 legs run. test/reliability runs in npm test only: it would add about a
# minute and a half to each of these legs on 2 cores (measured on Node 22).
NODE_LEG_SUITES=${NODE_LEG_SUITES:-test/unit test/e2e test/matrix}
ALL_LEGS=(node20 node22 node24 pack types)
if (($#)); then LEGS=("$@"); else LEGS=("${ALL_LEGS[@]}"); fi

rm -rf "$LOGS"
mkdir -p "$LOGS"

now_ms() { date +%s%3N; }
strip() { sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' "$@"; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }

# The pack leg's tarball is packed first: npm test (node20) deletes and rebuilds dist/ while it
# runs. Packed as from a fresh clone: dist/ deleted, so the tarball holds code only if npm pack's
# own prepare script builds it.
needs_pack=false
for leg in "${LEGS[@]}"; do [[ $leg == pack ]] && needs_pack=true; done
if $needs_pack; then
  t=$(now_ms)
  if ! { rm -rf dist && npm pack --pack-destination "$LOGS"; } >"$LOGS/prepack.log" 2>&1; then
    echo "prepack FAIL: rm -rf dist && npm pack"
    cat "$LOGS/prepack.log"
    exit 1
  fi
  echo "prepack ok    $(secs $(($(now_ms) - t)))  rm -rf dist + npm pack -> $(ls "$LOGS"/*.tgz)"
fi

leg_command() {
  case $1 in
    node20) echo "npm test" ;;
    node22 | node24) echo "npx -y -p node@${1#node} -- node $VITEST run $NODE_LEG_SUITES" ;;
    pack) echo "node scripts/pack-test.mjs --tarball $(ls "$LOGS"/*.tgz)" ;;
    types) echo "node node_modules/typescript/bin/tsc --noEmit -p tsconfig.json" ;;
    *) echo "unknown leg: $1 (legs: ${ALL_LEGS[*]})" >&2; exit 2 ;;
  esac
}

declare -A PIDS
run_leg() {
  local leg=$1 cmd
  cmd=$(leg_command "$leg")
  (
    t=$(now_ms)
    set +e
    {
      echo "\$ $cmd"
      [[ $leg == node2[24] ]] && npx -y -p "node@${leg#node}" -- node --version
      # timeout runs the leg in its own process group and ends all of it on expiry.
      # vitest's default on 2 cores is one worker. NODE20_WORKERS=2 runs npm test's files two at a
      # time: measured 122 s instead of 141 s, but timing-sensitive scenarios flaked under it.
      [[ $leg == node20 && -n ${NODE20_WORKERS:-} ]] && export VITEST_MAX_WORKERS=$NODE20_WORKERS
      timeout --kill-after=30 "$LEG_TIMEOUT" $cmd </dev/null
    } >"$LOGS/$leg.log" 2>&1
    echo $? >"$LOGS/$leg.rc"
    echo $(($(now_ms) - t)) >"$LOGS/$leg.ms"
  ) &
  PIDS[$leg]=$!
  echo "started $leg: $cmd"
}

# npm test runs first and alone: its reliability and resilience suites measure timeouts and
# deadlines in milliseconds, and two other Node processes on the same 2 cores made one of them
# flake. The remaining legs are mostly waiting on sockets and run side by side afterwards.
rest=()
for leg in "${LEGS[@]}"; do
  if [[ $leg == node20 ]]; then
    run_leg node20
    wait "${PIDS[node20]}" || true
  else
    rest+=("$leg")
  fi
done
for leg in "${rest[@]}"; do run_leg "$leg"; done
for leg in "${rest[@]}"; do wait "${PIDS[$leg]}" || true; done

# Counts from vitest's closing "Tests" line, e.g. "Tests  2 failed | 754 passed | 3 skipped (759)".
count() { # leg word -> number
  local line
  line=$(strip "$LOGS/$1.log" | grep -E '^ +Tests +[0-9]' | tail -1)
  grep -oE "[0-9]+ $2" <<<"$line" | grep -oE '^[0-9]+' || echo 0
}

failed_legs=()
total_passed=0
total_failed=0
echo
echo "== matrix summary =="
for leg in "${LEGS[@]}"; do
  rc=$(cat "$LOGS/$leg.rc" 2>/dev/null || echo 1)
  ms=$(cat "$LOGS/$leg.ms" 2>/dev/null || echo 0)
  status=PASS
  [[ $rc == 0 ]] || status=FAIL
  [[ $rc == 124 || $rc == 137 ]] && status="FAIL (timed out after ${LEG_TIMEOUT} s)"
  case $leg in
    pack)
      passed=$(grep -c '^pack: ok' "$LOGS/$leg.log" || true)
      failed=$(grep -c '^pack: FAIL' "$LOGS/$leg.log" || true)
      detail="$passed steps ok, $failed failed"
      ;;
    types)
      errors=$(grep -cE 'error TS[0-9]+' "$LOGS/$leg.log" || true)
      passed=$([[ $rc == 0 ]] && echo 1 || echo 0)
      failed=$errors
      detail="$errors type errors"
      ;;
    *)
      passed=$(count "$leg" passed)
      failed=$(count "$leg" failed)
      files=$(strip "$LOGS/$leg.log" | grep -E '^ +Test Files ' | tail -1 | sed -E 's/^ +Test Files +//')
      ver=$(grep -m1 -E '^v[0-9]+\.' "$LOGS/$leg.log" || node --version)
      detail="Node ${ver#v}: tests $passed passed, $failed failed; files ${files:-?}"
      ;;
  esac
  # A leg that failed without a failing test (crash, build error, timeout) counts as one failure.
  [[ $rc != 0 && $failed == 0 ]] && failed=1
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  [[ $rc == 0 ]] || failed_legs+=("$leg")
  printf '%-7s %-5s %8s  %s\n' "$leg" "$status" "$(secs "$ms")" "$detail"
done

for leg in "${failed_legs[@]}"; do
  echo
  echo "== log of failing leg $leg ($LOGS/$leg.log, last 300 lines) =="
  strip "$LOGS/$leg.log" | tail -n 300
done

if [[ -f $LOGS/node20.log ]]; then
  echo
  echo "== npm test (node20): vitest's summary =="
  strip "$LOGS/node20.log" | grep -E '^ +(Test Files|Tests|Errors|Duration) ' | tail -4
fi
echo
[[ -n ${CI_STARTED:-} ]] && echo "CI took $(($(date +%s) - CI_STARTED)) s in all"
if ((${#failed_legs[@]})); then
  echo "matrix FAILED: ${failed_legs[*]}"
else
  echo "matrix passed: ${#LEGS[@]} of ${#LEGS[@]} legs"
fi
echo "$total_passed passed, $total_failed failed"
((${#failed_legs[@]} == 0))
