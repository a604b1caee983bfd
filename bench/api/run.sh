#!/usr/bin/env bash
# bench/api: requests/s and p99 of the dashboard's main reads through escucha-api's HTTP
# (wrk, keep-alive, C connections) beside the very same SQL run raw by pgbench (same
# statements and values, same client count) in the same run, on N (1 million) feedback rows
# plus the aggregates, rankings and plans the other services would have written.
# Target: escucha-api >= 0.8 of raw pgbench per endpoint.
#   bench/api/run.sh            (BENCH_N rows, BENCH_SECONDS per measurement, BENCH_CLIENTS)
# The statements pgbench runs are captured from PostgreSQL's log while escucha-api answers
# one request of each endpoint (log_statement = all for that moment only), so the raw side
# runs exactly what the service sent, values inlined.
# Freshness (BENCH_FRESHNESS=0 skips it): the whole stack up (ingest, classify, prioritize,
# actions, api), feedback sent to ingest at a steady BENCH_RATE (2000)/s for BENCH_FRESH_WARMUP (15) s
# unmeasured and then BENCH_FRESH_SECONDS (30),
# p99 time from ingest's 202 to GET /v1/feedback/{id} answering 200. Target < 1 s.
# Own ports (PostgreSQL 15932, Kafka 19692/19693, Redis 16879, ingest 18980, api 18981, admin 19980+)
# and state folder, started empty; never part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${BENCH_N:-1000000}
DAYS=${BENCH_DAYS:-90}
DUR=${BENCH_SECONDS:-15}
CLIENTS=${BENCH_CLIENTS:-8}
export ESCUCHA_STATE_DIR=${ESCUCHA_STATE_DIR:-$PWD/.escucha/bench-api}
export ESCUCHA_PG_PORT=15932 ESCUCHA_KAFKA_PORT=19692 ESCUCHA_KAFKA_CONTROLLER_PORT=19693 ESCUCHA_REDIS_PORT=16879
export ESCUCHA_HTTP_PORT=18980 ESCUCHA_API_HTTP_PORT=18981 ESCUCHA_ADMIN_PORT_BASE=19980
eval "$(scripts/env.sh)"
. bench/lib.sh
PY=/usr/bin/python3
B=$ESCUCHA_STATE_DIR/bench; API_PID=""
SU=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$ESCUCHA_PG_PORT" -U postgres -d escucha)
APP=(psql -X -q -v ON_ERROR_STOP=1 "$ESCUCHA_PG_DSN")
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk (scripts/deps.sh)"; exit 1; }
command -v pgbench >/dev/null || { echo "pgbench missing: apt-get install postgresql-contrib"; exit 1; }
cleanup() {
  [[ -n $API_PID ]] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null || true
  scripts/stack.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT
make -s -j2 bins
scripts/stack.sh down >/dev/null 2>&1 || true
# empty state every run (BENCH_REUSE=1 keeps the last run's rows: for working on this script only)
[[ ${BENCH_REUSE:-0} == 1 ]] || rm -rf "$ESCUCHA_STATE_DIR/pg"
mkdir -p "$B"
bench_pg_sized "work_mem = '32MB'" "log_line_prefix = '%m [%p] %u@%d '"
ESCUCHA_SKIP_DEPS=1 scripts/stack.sh pg-start >/dev/null
scripts/stack.sh migrate >/dev/null

# (BENCH_REUSE=1: the loaded rows are kept; earlier freshness runs' rows of agency demo go)
if [[ ${BENCH_REUSE:-0} == 1 && $("${APP[@]}" -tA -c "SELECT count(*) FROM feedback WHERE agency <> 'demo'") == "$N" ]]; then
  "${APP[@]}" -c "DELETE FROM feedback WHERE agency = 'demo'" -c "VACUUM ANALYZE feedback" -c "VACUUM ANALYZE feedback_search"
fi
if [[ $("${APP[@]}" -tA -c "SELECT count(*) FROM feedback") != "$N" ]]; then
echo "bench api: loading $N feedback rows over $DAYS days"
t0=$SECONDS
"${APP[@]}" -c "TRUNCATE feedback, topic_window_stats, priorities, actions, action_plans, audit_log CASCADE"
$PY bench/api/gen.py "$N" "$DAYS" bench otra | "${APP[@]}" -c "\\copy feedback (id, agency, service, channel, external_id, text, language, created_at, received_at, nps, csat, category, subcategory, confidence, sentiment, sentiment_score, journey_stage, urgent, model_version, content_hash, redactions, classified_at) FROM STDIN"
"${APP[@]}" -f bench/api/load.sql
"${SU[@]}" -c "VACUUM ANALYZE"
echo "  loaded in $((SECONDS - t0)) s: $("${APP[@]}" -tA -c "SELECT count(*) FROM feedback") feedback, $("${APP[@]}" -tA -c "SELECT count(*) FROM topic_window_stats") stats rows, $("${APP[@]}" -tA -c "SELECT count(*) FROM priorities") priorities"
fi

if [[ ${BENCH_READS:-1} == 1 ]]; then  # BENCH_READS=0: freshness only
# The api reads as a role of its own, so the statement log below can pick its statements.
"${SU[@]}" -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_api') THEN CREATE ROLE bench_api LOGIN; END IF; END \$\$" \
  -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench_api" -c "GRANT INSERT ON audit_log TO bench_api" \
  -c "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO bench_api"
KEY=bench-key-$$-$RANDOM
API_BIN=$ESCUCHA_BIN_DIR/escucha-api
[[ -x $API_BIN ]] || { echo "escucha-api not built ($API_BIN): the HTTP side needs branch api-core"; exit 1; }
ESCUCHA_API_PG_DSN="host=127.0.0.1 port=$ESCUCHA_PG_PORT dbname=escucha user=bench_api" \
  ESCUCHA_API_KEYS="bench:admin:$KEY" ESCUCHA_HTTP_PORT=$ESCUCHA_API_HTTP_PORT \
  ESCUCHA_ADMIN_PORT=$((ESCUCHA_ADMIN_PORT_BASE + 5)) ESCUCHA_PG_POOL_SIZE=$CLIENTS \
  ESCUCHA_LOG_LEVEL=warn ESCUCHA_KAFKA_BROKERS=$ESCUCHA_KAFKA_BROKERS \
  env -u ESCUCHA_API_KEYS_FILE "$API_BIN" >"$B/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 100); do curl -sf "localhost:$((ESCUCHA_ADMIN_PORT_BASE + 5))/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "localhost:$((ESCUCHA_ADMIN_PORT_BASE + 5))/healthz" >/dev/null || { echo "escucha-api did not start"; tail "$B/api.log"; exit 1; }

# The dashboard's main reads.
NAMES=(priorities inbox search series)
declare -A URL=(
  [priorities]="/v1/priorities?window=day"
  [inbox]="/v1/feedback?category=waiting_times&sentiment=NEGATIVE&channel=web&limit=50"
  [search]="/v1/feedback?q=espera&limit=50"
  [series]="/v1/topics/waiting_times/series?window=day"
)
API="http://127.0.0.1:$ESCUCHA_API_HTTP_PORT"
# One request each with the statement log on; the log becomes one pgbench script per endpoint.
LOG=$ESCUCHA_STATE_DIR/logs/postgres.log
"${SU[@]}" -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
for name in "${NAMES[@]}"; do
  before=$(wc -l <"$LOG")
  code=$(curl -s -o "$B/$name.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$API${URL[$name]}")
  [[ $code == 200 ]] || { echo "$name: HTTP $code"; head -c 300 "$B/$name.json"; exit 1; }
  tail -n +"$((before + 1))" "$LOG" >"$B/$name.log"
done
"${SU[@]}" -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null
for name in "${NAMES[@]}"; do
  $PY bench/api/pglog2pgbench.py bench_api --vars "$B/$name.vars" <"$B/$name.log" >"$B/$name.sql"
  [[ -s $B/$name.sql ]] || { echo "$name: no statement captured"; exit 1; }
done

# EXPLAIN: no sequential scan over the big table in any of them.
echo; echo "plans (feedback has $N rows):"
for name in "${NAMES[@]}"; do
  $PY - "$B/$name.sql" >"$B/$name.explain.sql" <<'PYEOF'
import sys
for st in open(sys.argv[1]).read().split(";\n"):
    if st.strip():
        print("EXPLAIN (COSTS OFF) " + st.strip() + ";")
PYEOF
  plan=$("${APP[@]}" -tA -f "$B/$name.explain.sql")
  idx=$(grep -oE '(Index|Index Only|Bitmap Index) Scan (Backward )?(using|on) [a-z_]+' <<<"$plan" | sed -E 's/.* (using|on) //' | sort -u | tr '\n' ' ')
  seq=$(grep -oE 'Seq Scan on [a-z_]+' <<<"$plan" | sort -u | tr '\n' ' ' || true)
  printf '  %-11s indexes: %s%s\n' "$name" "$idx" "${seq:+ SEQ: $seq}"
done

# Each measurement: wrk on the HTTP endpoint, pgbench on its statements, same clients and time.
WRKLUA=$B/p99.lua
cat >"$WRKLUA" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.requests))
end
LUA
# The raw side runs twice: in the protocol the service used (extended: PQexecParams' unnamed
# statements; prepared: named ones), with the very parameters it bound (pgbench -D variables):
# the like-for-like figure and the target's; and, as before, the values inlined as one simple
# query ("simple"), for comparison with earlier runs. Parse, analysis and planning cost
# differ by protocol (a prepared statement skips the first two), so only the first compares
# the service's own cost.
raw() {  # name mode script [defs]: "tx/s p99_ms" of pgbench
  local defs=() d
  if [[ -n ${4:-} ]]; then while IFS= read -r d; do defs+=(-D "$d"); done <"$4"; fi
  rm -f "$B"/pgbench_log.*
  pgbench -n -M "$2" "${defs[@]}" -c "$CLIENTS" -j 2 -T "$DUR" -f "$3" -l --log-prefix="$B/pgbench_log" \
    -h 127.0.0.1 -p "$ESCUCHA_PG_PORT" -U bench_api escucha >"$B/$1.$2.pgbench" 2>&1 ||
    { tail "$B/$1.$2.pgbench" >&2; return 1; }
  if grep -qE "number of failed transactions: [1-9]" "$B/$1.$2.pgbench"; then tail -3 "$B/$1.$2.pgbench" >&2; return 1; fi
  echo "$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$B/$1.$2.pgbench" | tail -1)" \
    "$(cat "$B"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.3f", a[i]/1000}')"
}
printf '\n%-11s %10s %9s %9s %10s %9s %6s %10s %6s\n' "endpoint" "api req/s" "api p99" "protocol" "raw tx/s" \
  "raw p99" "ratio" "simple tx/s" "ratio"
for name in "${NAMES[@]}"; do
  read -r _ rps p99 errs nreq < <(wrk -t2 -c"$CLIENTS" -d"${DUR}s" -s "$WRKLUA" \
    -H "Authorization: Bearer $KEY" "$API${URL[$name]}" | grep '^RESULT')
  mode=$(cat "$B/$name.vars.mode")
  read -r tps raw99 < <(raw "$name" "$mode" "$B/$name.vars.sql" "$B/$name.vars.defs") || exit 1
  read -r stps _ < <(raw "$name" simple "$B/$name.sql") || exit 1
  printf '%-11s %10.0f %6.2f ms %9s %10.0f %6.2f ms %6.2f %10.0f %6.2f%s\n' "$name" "$rps" "$p99" "$mode" "$tps" \
    "$raw99" "$(awk -v a="$rps" -v b="$tps" 'BEGIN {print a/b}')" "$stps" \
    "$(awk -v a="$rps" -v b="$stps" 'BEGIN {print a/b}')" "$([[ $errs -gt 0 ]] && echo "  ($errs errors of $nreq)")"
done
echo "(target: ratio in the same protocol >= 0.80; $CLIENTS clients, ${DUR} s each, $(nproc) cores, N=$N)"
fi

[[ ${BENCH_FRESHNESS:-1} == 1 ]] || exit 0
echo; echo "freshness: the whole stack, ${BENCH_RATE:-2000} feedback/s for ${BENCH_FRESH_SECONDS:-30} s after ${BENCH_FRESH_WARMUP:-15} s unmeasured"
[[ -z $API_PID ]] || { kill "$API_PID" && wait "$API_PID" 2>/dev/null || true; API_PID=""; }
[[ -s $ESCUCHA_MODEL ]] || scripts/train-default-model.sh >/dev/null
export ESCUCHA_KAFKA_JVM_OPTS=${ESCUCHA_KAFKA_JVM_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20}
rm -rf "$ESCUCHA_STATE_DIR/kafka/data"
ESCUCHA_RATE_LIMIT=0 ESCUCHA_LOG_LEVEL=warn ESCUCHA_INBOUND=off ESCUCHA_SKIP_DEPS=1 \
  bash -c 'scripts/stack.sh redis-wipe && scripts/stack.sh up' >"$B/up.log" 2>&1 || { tail -20 "$B/up.log"; exit 1; }
# warm-up, not measured: a fresh broker compiles its hot paths for its first seconds (see
# docs/performance.md, "a warm broker"), which held the tails of every earlier run's first 10-20 s
W=${BENCH_FRESH_WARMUP:-15}
((W == 0)) || $PY bench/api/freshness.py "$ESCUCHA_HTTP_PORT" "$ESCUCHA_API_HTTP_PORT" "$(cat "$ESCUCHA_STATE_DIR/demo-api-key")" \
  "${BENCH_RATE:-2000}" "$W" warm >/dev/null
fresh=$($PY bench/api/freshness.py "$ESCUCHA_HTTP_PORT" "$ESCUCHA_API_HTTP_PORT" "$(cat "$ESCUCHA_STATE_DIR/demo-api-key")" \
  "${BENCH_RATE:-2000}" "${BENCH_FRESH_SECONDS:-30}")
echo "  $fresh"
$PY - "$fresh" <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1])
print("freshness 202 -> visible in GET /v1/feedback/{id}: p50 %s ms, p99 %s ms at %s feedback/s (target p99 < 1000 ms)"
      % (d["p50_ms"], d["p99_ms"], d["rate"]))
PYEOF
