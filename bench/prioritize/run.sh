#!/usr/bin/env bash
# Prioritize throughput: classified messages/s committed to PostgreSQL by
# escucha-prioritize (feedback rows + aggregates + ranking, one transaction per
# batch) beside a raw psql COPY of the very same rows into a copy of the
# feedback table (same indexes), in the same run. Target: >= 50 % of raw COPY.
#   bench/prioritize/run.sh [N]      (needs `make up`, or `scripts/stack.sh infra` and `topics`)
#   bench/prioritize/run.sh --agencies A[,A...] [N]   many agencies (issue 18 item 5): N (30,000)
#       messages spread round-robin over A agencies, the service's rate per A (the curve; no raw
#       COPY pass), how long after the last row the derive thread had applied every aggregate,
#       and how stale rankings got. Target: with 1,000 agencies >= 0.5 of the single-agency rate.
#   BENCH_PG_FRESH=1 runs either on a new, benchmark-sized database (below).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/env.sh
. bench/lib.sh
# BENCH_PG_FRESH=1: a new database on a benchmark-sized server first, as bench/pipeline makes
# (1 GB shared_buffers, 4 GB max_wal_size): rows of earlier runs make every index deeper, and
# the test stack's 32 MB of buffers against GB-sized tables measure page churn. With --agencies
# given as a list, the server is made once, before the first count.
fresh_pg() {
  [[ -n ${BENCH_PG_FRESH:-} && -z ${BENCH_PG_MADE:-} ]] || return 0
  scripts/stack.sh pg-stop >/dev/null 2>&1 || true
  rm -rf "$ESCUCHA_STATE_DIR/pg"
  bench_pg_sized
  ESCUCHA_SKIP_DEPS=1 scripts/stack.sh pg-start >/dev/null
  scripts/stack.sh migrate >/dev/null
  export BENCH_PG_MADE=1
}
AGENCIES=""
if [[ ${1:-} == --agencies ]]; then
  AGENCIES=${2:?--agencies needs a count, or counts separated by commas}; shift 2
  [[ $AGENCIES =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "--agencies: counts like 1,300,1000" >&2; exit 2; }
  if [[ $AGENCIES == *,* ]]; then  # the curve: one run per count, each with a fresh group
    fresh_pg
    for a in ${AGENCIES//,/ }; do "$0" --agencies "$a" "$@" | grep '^agencies'; done
    exit 0
  fi
fi
N=${1:-${BENCH_N:-$([[ -n $AGENCIES ]] && echo 30000 || echo 200000)}}
PY=/usr/bin/python3
BIN=${ESCUCHA_BIN_DIR:-build/bin}/escucha-prioritize
ADMIN=${BENCH_ADMIN_PORT:-19613}
WORK=$(mktemp -d /tmp/escucha-bench-pz.XXXXXX)
AGENCY=bench-$(date +%s)-$$
PSQL=(psql -X -q -v ON_ERROR_STOP=1 "$ESCUCHA_PG_DSN")
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  "${PSQL[@]}" -c "DROP TABLE IF EXISTS bench_copy_feedback" >/dev/null 2>&1 || true
  [[ -n ${BENCH_KEEP_LOG:-} ]] && cp "$WORK/service.log" "$BENCH_KEEP_LOG"; rm -rf "$WORK"
}
trap cleanup EXIT
[[ -x $BIN ]] || { echo "build first: make bins"; exit 1; }
now() { date +%s.%N; }

fresh_pg
# Migrations (the service would apply them too; the COPY target needs them first).
"${PSQL[@]}" -c "SELECT 1 FROM feedback LIMIT 0" >/dev/null 2>&1 || \
  { echo "schema missing: run scripts/stack.sh migrate (or make up)"; exit 1; }

echo "bench: generating $N classified messages (agency $AGENCY)"
protoc -Iproto --python_out="$WORK" proto/escucha/v1/escucha.proto
GROUP="bench-$AGENCY"
$PY bench/prioritize/gen.py "$ESCUCHA_KAFKA_BROKERS" "$AGENCY" "$N" "$WORK" "$WORK/rows.copy" "$GROUP" "${AGENCIES:-1}"

# 1. escucha-prioritize: fresh consumer group, messages already in the topic.
# env.sh only defines the settings; the service gets them explicitly.
ESCUCHA_PG_DSN=$ESCUCHA_PG_DSN ESCUCHA_KAFKA_BROKERS=$ESCUCHA_KAFKA_BROKERS \
  ESCUCHA_MIGRATIONS_DIR=$ESCUCHA_MIGRATIONS_DIR ESCUCHA_TAXONOMY=$ESCUCHA_TAXONOMY \
  ESCUCHA_ADMIN_PORT=$ADMIN ESCUCHA_GROUP="$GROUP" ESCUCHA_LOG_LEVEL=${BENCH_LOG_LEVEL:-warn} \
  ESCUCHA_BATCH_SIZE=${BENCH_BATCH:-5000} "$BIN" >"$WORK/service.log" 2>&1 &
pid=$!
# Rate from the service's own counter (first row to last), done when it has
# committed as many rows as were sent (a fresh group at the topic's end sees
# only this run's messages). Polled over HTTP only: a count(*) query every
# 0.1 s would compete with the service for the database; the stored count is
# checked once at the end.
# Also the longest an agency waited for its ranking (escucha_prioritize_rank_wait_seconds, set by
# every ranking transaction): the most a ranking was stale, kept in $WORK/wait.
echo 0 >"$WORK/wait"
rows() {
  curl -sf "http://127.0.0.1:$ADMIN/metrics" | awk -v wf="$WORK/wait" '
    /^escucha_prioritize_(rows_written|duplicates)_total/ {s += $2}
    /^escucha_prioritize_rank_wait_seconds/ {w = $2}
    END {getline m < wf; if (w + 0 > m + 0) {print w > wf}; printf "%d", s}'
}
mine() { "${PSQL[@]}" -tA -c "SELECT count(*) FROM feedback WHERE agency = '$AGENCY' OR agency LIKE '$AGENCY-%'"; }
t_first="" ; deadline=$((SECONDS + 600))
while :; do
  r=$(rows || echo 0); r=${r:-0}
  if [[ -z $t_first && $r -gt 0 ]]; then t_first=$(now); r_first=$r; fi
  if [[ -n $t_first && $r -ge $N ]]; then t_last=$(now); r_last=$r; break; fi
  kill -0 "$pid" 2>/dev/null || { echo "service exited"; tail -20 "$WORK/service.log"; exit 1; }
  ((SECONDS < deadline)) || { echo "timeout: $(mine) of $N rows"; tail -20 "$WORK/service.log"; exit 1; }
  sleep 0.05
done
svc_rate=$($PY -c "print(($r_last - $r_first) / ($t_last - $t_first))")
svc_msgs=$((r_last - r_first))
# the rate is the rows committed between the first and the last commit seen: with too few
# batches (a small N) that is one or two commits, not a rate
((svc_msgs * 2 >= N)) || { echo "bench: only $svc_msgs of $N rows fell in the timed interval; use a larger N" >&2; exit 1; }
# With --derive-thread (the default) a batch's aggregates follow its rows: the time until
# the queue is empty is printed. The rankings still pending after that (the idle service
# ranks them) count for staleness.
agg_after=0
if [[ -n $AGENCIES ]]; then
  until [[ $("${PSQL[@]}" -tA -c "SELECT count(*) FROM aggregate_queue") == 0 ]]; do
    rows >/dev/null || true
    ((SECONDS < deadline)) || { echo "timeout: aggregates still queued"; exit 1; }
    sleep 0.1
  done
  agg_after=$($PY -c "import time; print(max(0.0, time.time() - $t_last))")
  for _ in $(seq 40); do rows >/dev/null || true; sleep 0.05; done
fi
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
stored=$(mine)
[[ $stored -eq $N ]] || { echo "stored $stored of $N rows"; exit 1; }
if [[ -n $AGENCIES ]]; then
  # every row counted once in the aggregates (each row is in one hour window under '*')
  counted=$("${PSQL[@]}" -tA -c "SELECT coalesce(sum(total), 0) FROM topic_window_stats WHERE topic = '*'
    AND window_kind = 'hour' AND (agency = '$AGENCY' OR agency LIKE '$AGENCY-%')")
  [[ $counted -eq $N ]] || { echo "aggregates count $counted of $N rows"; exit 1; }
  printf 'agencies %5d: %8.0f msg/s into PostgreSQL (%d messages), aggregates %.1f s after the last row,' \
    "$AGENCIES" "$svc_rate" "$N" "$agg_after"
  printf ' rankings at most %.1f s stale\n' "$(cat "$WORK/wait")"
  exit 0
fi

# 2. Raw COPY of the same rows into an identical, empty table.
"${PSQL[@]}" -c "DROP TABLE IF EXISTS bench_copy_feedback" \
  -c "CREATE TABLE bench_copy_feedback (LIKE feedback INCLUDING ALL)"
cols="id, agency, service, channel, external_id, text, language, created_ms, received_ms, nps,"
cols+=" csat, category, subcategory, confidence, sentiment, sentiment_score, journey_stage, urgent,"
cols+=" model_version, content_hash, redactions, classified_ms" # one line: \copy is line-based
# Staged: \copy the ms timestamps into a temp table and convert with INSERT SELECT, as the
# service does, timed end to end.
t0=$(now)
"${PSQL[@]}" <<SQL
CREATE TEMP TABLE s (id text, agency text, service text, channel text, external_id text,
  text text, language text, created_ms bigint, received_ms bigint, nps smallint, csat smallint,
  category text, subcategory text, confidence float8, sentiment text, sentiment_score float8,
  journey_stage text, urgent boolean, model_version text, content_hash text, redactions jsonb,
  classified_ms bigint);
\copy s ($cols) FROM '$WORK/rows.copy'
INSERT INTO bench_copy_feedback (id, agency, service, channel, external_id, text, language,
  created_at, received_at, nps, csat, category, subcategory, confidence, sentiment,
  sentiment_score, journey_stage, urgent, model_version, content_hash, redactions, classified_at)
SELECT id, agency, service, channel, external_id, text, language,
  timestamptz 'epoch' + created_ms * interval '1 millisecond',
  timestamptz 'epoch' + received_ms * interval '1 millisecond', nps, csat, category, subcategory,
  confidence, sentiment, sentiment_score, journey_stage, urgent, model_version, content_hash,
  redactions, timestamptz 'epoch' + classified_ms * interval '1 millisecond' FROM s;
SQL
t1=$(now)
copied=$("${PSQL[@]}" -tA -c "SELECT count(*) FROM bench_copy_feedback")
# And the plainest form: COPY of text timestamps straight into the table.
"${PSQL[@]}" -c "TRUNCATE bench_copy_feedback"
$PY - "$WORK/rows.copy" "$WORK/rows.ts.copy" <<'PYEOF'
import sys, datetime
utc = datetime.timezone.utc
def ts(ms):
    return "\\N" if ms == "\\N" else datetime.datetime.fromtimestamp(int(ms) / 1000, utc).isoformat()
with open(sys.argv[1]) as i, open(sys.argv[2], "w") as o:
    for line in i:
        f = line.rstrip("\n").split("\t")
        f[7], f[8], f[21] = ts(f[7]), ts(f[8]), ts(f[21])
        o.write("\t".join(f) + "\n")
PYEOF
t2=$(now)
"${PSQL[@]}" -c "\\copy bench_copy_feedback (id, agency, service, channel, external_id, text, language, created_at, received_at, nps, csat, category, subcategory, confidence, sentiment, sentiment_score, journey_stage, urgent, model_version, content_hash, redactions, classified_at) FROM '$WORK/rows.ts.copy'"
t3=$(now)
$PY - "$N" "$svc_rate" "$t0" "$t1" "$t2" "$t3" "$stored" "$copied" "$svc_msgs" <<'PYEOF'
import sys
n, svc = int(sys.argv[1]), float(sys.argv[2])
print("  (service rate over %s messages consumed in the timed interval)" % sys.argv[9])
t0, t1, t2, t3 = map(float, sys.argv[3:7])
staged, direct = n / (t1 - t0), n / (t3 - t2)
print("bench prioritize: %d messages (stored %s, copied %s)" % (n, sys.argv[7], sys.argv[8]))
print("  escucha-prioritize (feedback + aggregates + ranking): %10.0f msg/s" % svc)
print("  raw COPY into feedback copy (text timestamps):        %10.0f rows/s  -> service = %.0f%%"
      % (direct, 100 * svc / direct))
print("  COPY + INSERT SELECT (same ms conversion as service):  %10.0f rows/s  -> service = %.0f%%"
      % (staged, 100 * svc / staged))
PYEOF
