#!/usr/bin/env bash
# bench/urgent: time from ingest's 202 to the case in the tool for urgent messages injected every
# ~2 s while the pipeline carries a steady load of ordinary feedback (ingest -> classify ->
# prioritize/actions, default taxonomy: cases go to a real Redmine with the Immediate priority).
# Reports p50/p99 of 202 -> `actions` row recorded and 202 -> issue visible in Redmine's REST API,
# beside a reference measured in the same run: a direct POST /issues.json to the same Redmine
# (the tool's own floor). Target: p99 (202 -> issue visible) < 5 s. Refuses to report (exit 3)
# when a precondition fails: an urgent message without its case, the load rate not reached.
#   BENCH_RATE (ordinary feedback/s, default 200), BENCH_SECONDS (default 60), BENCH_EVERY (s, 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${BENCH_RATE:-200} SECS=${BENCH_SECONDS:-60} EVERY=${BENCH_EVERY:-2}
export ESCUCHA_STATE_DIR=${ESCUCHA_STATE_DIR:-$PWD/.escucha/bench-urgent}
# ports of its own: clear of the test slots (+N*1000), the demo and the other benchmarks
export ESCUCHA_KAFKA_PORT=19792 ESCUCHA_KAFKA_CONTROLLER_PORT=19793 ESCUCHA_PG_PORT=16032 ESCUCHA_REDIS_PORT=16979
export ESCUCHA_HTTP_PORT=18780 ESCUCHA_ADMIN_PORT_BASE=19780 ESCUCHA_API_HTTP_PORT=18786
export ESCUCHA_REDMINE_PORT=19790
export ESCUCHA_KAFKA_JVM_OPTS=${ESCUCHA_KAFKA_JVM_OPTS:--Xms512m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20}
export ESCUCHA_RATE_LIMIT=0 ESCUCHA_LOG_LEVEL=warn ESCUCHA_INBOUND=off
eval "$(scripts/env.sh)"
scripts/deps.sh >/dev/null
make -s -j2 bins
[[ -s $ESCUCHA_MODEL ]] || scripts/train-default-model.sh >/dev/null
REDMINE_STARTED=
cleanup() {
  scripts/stack.sh down >/dev/null 2>&1 || true
  [[ -n $REDMINE_STARTED ]] && scripts/redmine.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
scripts/redmine.sh status >/dev/null 2>&1 || REDMINE_STARTED=1
set -a; eval "$(scripts/redmine.sh start)"; set +a   # the first start sets Redmine up (a few minutes)
# a fresh broker log and dedup state each run
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$ESCUCHA_STATE_DIR/kafka/data"
scripts/stack.sh redis-wipe >/dev/null && scripts/stack.sh up >/dev/null
KEY=$(cat "$ESCUCHA_STATE_DIR/demo-api-key")
out=$(/usr/bin/python3 bench/urgent/drive.py --rate "$RATE" --seconds "$SECS" --every "$EVERY" \
  --port "$ESCUCHA_HTTP_PORT" --key "$KEY" --dsn "$ESCUCHA_PG_DSN" --redmine "$ESCUCHA_REDMINE_BASE_URL" \
  --token "$ESCUCHA_REDMINE_TOKEN" --project "$ESCUCHA_REDMINE_PROJECT") || {
  rc=$?; echo "$out"; echo "bench: refusing to report (see above; logs in $ESCUCHA_STATE_DIR/logs)" >&2; exit $rc; }
echo "$out"
