#!/usr/bin/env bash
# The whole suite, as CI runs it: install what is missing, build (plain and
# ASan+UBSan), unit tests (cmocka, under sanitizers), then integration tests
# (pytest) against a real Kafka/PostgreSQL/Redis stack started here on its
# own state folder and ports, with the sanitized service binaries, then the
# dashboard's browser tests (tests/browser: headless Chromium) on that stack.
#   tests/run.sh [unit|integration|all] [pytest args...]
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
what=${1:-all}; shift || true
PY=/usr/bin/python3
start=$SECONDS

scripts/deps.sh || exit 1
# ESCUCHA_TEST_SLOT=N (default 0) moves every port of the test stack by N*1000 (clear of the benchmarks' ports) and
# its state folder, so two checkouts (git worktrees) can run their suites at once.
slot=${ESCUCHA_TEST_SLOT:-0}
logs=$REPO/.escucha/logs; mkdir -p "$logs"
make -j2 all >"$logs/build.log" 2>&1 || { tail -50 "$logs/build.log"; echo "build failed"; exit 1; }
make -j2 SAN=1 all >"$logs/build-san.log" 2>&1 || { tail -50 "$logs/build-san.log"; echo "sanitizer build failed"; exit 1; }

unit_pass=0 unit_fail=0
run_unit() {
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  for t in $(find build-san/tests -type f -perm -u+x | sort); do
    out=$("$t" 2>&1); rc=$?
    passed=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    failed=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    skipped=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
    if [[ -n $skipped ]]; then  # a skipped test is not a passed one
      unit_fail=$((unit_fail + skipped)); echo "SKIP counted as failure: $t ($skipped)"
    fi
    unit_pass=$((unit_pass + ${passed:-0}))
    if [[ $rc -ne 0 ]]; then
      unit_fail=$((unit_fail + ${failed:-1}))
      printf '%s\n' "$out" | tail -40
      echo "FAIL $t (exit $rc)"
    else
      echo "ok   $t (${passed:-0} tests)"
    fi
  done
  # the code style recorded in .clang-format (make format applies it)
  if out=$(make -s format-check 2>&1); then
    unit_pass=$((unit_pass + 1)); echo "ok   clang-format"
  else
    unit_fail=$((unit_fail + 1)); printf '%s\n' "$out" | tail -30; echo "FAIL clang-format (run: make format)"
  fi
  # every kept fuzz input (seeds and fixed crashes) replayed under the sanitizers
  for f in $(find build-san/fuzz-replay -type f -perm -u+x | sort); do
    name=$(basename "$f"); name=${name#fuzz_}
    if out=$("$f" "fuzz/corpus/$name" 2>&1); then
      unit_pass=$((unit_pass + 1)); echo "ok   $f ($out)"
    else
      unit_fail=$((unit_fail + 1)); printf '%s\n' "$out" | tail -30; echo "FAIL $f"
    fi
  done
}

int_pass=0 int_fail=0
# A stack of its own: tests never touch a developer's `make up` stack.
start_stack() {
  local o=$((slot * 1000))
  export ESCUCHA_STATE_DIR=$REPO/.escucha/test-stack${slot#0}
  export ESCUCHA_KAFKA_PORT=$((19192 + o)) ESCUCHA_KAFKA_CONTROLLER_PORT=$((19193 + o))
  export ESCUCHA_PG_PORT=$((15532 + o)) ESCUCHA_REDIS_PORT=$((16479 + o))
  export ESCUCHA_HTTP_PORT=$((18180 + o)) ESCUCHA_ADMIN_PORT_BASE=$((19200 + o))
  export ESCUCHA_BIN_DIR=$REPO/build-san/bin
  export ESCUCHA_REDMINE_PORT=$((19381 + o))   # not the demo's Redmine
  # store-layer unit tests run against the stack's PostgreSQL
  export ESCUCHA_TEST_PG_DSN="host=127.0.0.1 port=$ESCUCHA_PG_PORT dbname=escucha user=escucha"
  trap 'scripts/stack.sh down >/dev/null 2>&1' EXIT
  if ! { scripts/stack.sh redis-wipe && scripts/stack.sh infra && scripts/stack.sh topics && scripts/stack.sh migrate && scripts/stack.sh provision; }; then
    echo "could not start the test stack"; int_fail=$((int_fail + 1)); return 1
  fi
  scripts/train-default-model.sh >/dev/null 2>&1 || { echo "default model training failed"; int_fail=$((int_fail + 1)); return 1; }
}

run_integration() {
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  local xml=$ESCUCHA_STATE_DIR/pytest.xml
  # tests/browser runs after tests/integration in the same session (one junit file): the
  # dashboard in headless Chromium against the real escucha-api. Screenshots go to
  # $ESCUCHA_TEST_OUTPUT/browser (default .escucha/test-output/browser).
  export ESCUCHA_TEST_OUTPUT=${ESCUCHA_TEST_OUTPUT:-$REPO/.escucha/test-output}
  $PY -m pytest -p no:cacheprovider -q --junitxml="$xml" tests/integration tests/browser "$@"
  read -r int_pass int_fail < <($PY - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
    s = r if r.tag == "testsuite" else r.find("testsuite")
    t, f, e, sk = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    # a skipped test is not a passed one: count it as failed
    print(t - f - e - sk, f + e + sk)
except Exception:
    print(0, 1)
PYEOF
)
}

case $what in
  unit) run_unit ;;
  integration) start_stack && run_integration "$@" ;;
  all) start_stack && { run_unit; run_integration "$@"; } ;;
  *) echo "usage: tests/run.sh [unit|integration|all]"; exit 2 ;;
esac
echo "unit: $unit_pass passed, $unit_fail failed; integration: $int_pass passed, $int_fail failed; $((SECONDS - start)) s"
echo "$((unit_pass + int_pass)) passed, $((unit_fail + int_fail)) failed"
[[ $((unit_fail + int_fail)) -eq 0 ]]
