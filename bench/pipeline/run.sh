#!/usr/bin/env bash
# bench/pipeline: the whole pipeline's sustained feedback/s (HTTP accept -> ingest -> 2 classify
# workers -> prioritize -> PostgreSQL row) and p50/p99 accept->row latency, beside the raw Kafka
# produce->consume rate of the same messages (kcat) measured in the same run, plus the memory
# of each service. Target: pipeline >= 50% of raw Kafka pass-through.
#   bench/pipeline/run.sh              burst: BENCH_N items as fast as they are accepted, after
#       BENCH_WARMUP (30000) unmeasured ones
#   bench/pipeline/run.sh --rate R     steady: R feedback/s for BENCH_SECONDS (>= 60) s, p50/p99
#       accept->row (commit) and accept->priority-updated (bench/pipeline/steady.py), after the
#       burst warm-up and BENCH_STEADY_WARMUP (20) s of the same rate, unmeasured; no kcat pass.
#       Target at 50% of the burst rate: p99 accept->row < 500 ms.
set -Eeuo pipefail
# a silent set -e exit once printed nothing and exited 0 in ten runs: name the command that failed
trap 'echo "bench: refusing to report: line $LINENO failed (exit $?): $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/../.."
N=${BENCH_N:-200000}   # large enough to measure a sustained rate, not the ramp
RATE=""
while (($#)); do
  case $1 in
    --rate) RATE=${2:?--rate needs feedback/s}; shift 2 ;;
    *) echo "usage: bench/pipeline/run.sh [--rate FEEDBACK_PER_S]" >&2; exit 2 ;;
  esac
done
SECS=${BENCH_SECONDS:-60}
[[ -z $RATE || ( $RATE =~ ^[0-9]+$ && $RATE -gt 0 && $SECS -ge 60 ) ]] ||
  { echo "bench: --rate needs a positive integer and BENCH_SECONDS >= 60" >&2; exit 2; }
export ESCUCHA_STATE_DIR=${ESCUCHA_STATE_DIR:-$PWD/.escucha/bench}
export ESCUCHA_KAFKA_PORT=19492 ESCUCHA_KAFKA_CONTROLLER_PORT=19493 ESCUCHA_PG_PORT=15732 ESCUCHA_REDIS_PORT=16679
export ESCUCHA_HTTP_PORT=18480 ESCUCHA_ADMIN_PORT_BASE=19480 ESCUCHA_API_HTTP_PORT=18481  # not 8081: a demo may hold it
export ESCUCHA_KAFKA_JVM_OPTS=${ESCUCHA_KAFKA_JVM_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20}
export ESCUCHA_RATE_LIMIT=0 ESCUCHA_LOG_LEVEL=warn ESCUCHA_INBOUND=off
eval "$(scripts/env.sh)"   # exported: the second classify worker below reads them
. bench/lib.sh
scripts/deps.sh >/dev/null
make -s -j2 bins
[[ -s $ESCUCHA_MODEL ]] || scripts/train-default-model.sh >/dev/null
cleanup() {
  [[ -n ${W2:-} ]] && kill "$W2" 2>/dev/null
  scripts/stack.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT
# a fresh broker log and dedup state each run (old runs' messages would only cost disk)
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$ESCUCHA_STATE_DIR/kafka/data"
# A benchmark-sized server (bench_pg_sized) and a new database each run: rows of earlier runs
# made every index deeper and PostgreSQL's CPU per row grew from run to run, and a
# BENCH_PREP_SQL what-if must not outlive its run. Steady mode also reads each row's commit time.
rm -rf "$ESCUCHA_STATE_DIR/pg"
TRACK=off; [[ -z $RATE ]] || TRACK=on
bench_pg_sized "track_commit_timestamp = $TRACK" ${BENCH_PG_JIT:+"jit = $BENCH_PG_JIT"}
scripts/stack.sh redis-wipe >/dev/null && scripts/stack.sh up >/dev/null
# what-if runs: BENCH_PREP_SQL (e.g. an index dropped or an index option set) applied after the migrations
[[ -z ${BENCH_PREP_SQL:-} ]] || psql -X -q -v ON_ERROR_STOP=1 "$ESCUCHA_PG_DSN" -c "$BENCH_PREP_SQL" >/dev/null
if [[ -n $RATE ]]; then
  psql -X -q -v ON_ERROR_STOP=1 "$ESCUCHA_PG_DSN" -c "TRUNCATE feedback CASCADE" >/dev/null
  # prioritize at debug: its batch_timing lines give the per-phase breakdown printed below
  scripts/stack.sh service-stop prioritize >/dev/null; : >"$ESCUCHA_STATE_DIR/logs/prioritize.log"
  ESCUCHA_LOG_LEVEL=debug scripts/stack.sh service-start prioritize >/dev/null
fi
# the second classify worker of the group (admin port base+6: +1..+5 are the stack's services, +5 the api)
ESCUCHA_ADMIN_PORT=$((ESCUCHA_ADMIN_PORT_BASE + 6)) build/bin/escucha-classify 2>"$ESCUCHA_STATE_DIR/logs/classify-2.log" &
W2=$!
# both workers must hold input partitions before the clock starts (the second one's
# init_transactions can take a few seconds on a fresh broker)
assigned() { { curl -s "localhost:$1/metrics" || true; } | awk '/^escucha_classify_assigned_partitions / {print int($2)}'; }
for _ in $(seq 600); do
  a1=$(assigned $((ESCUCHA_ADMIN_PORT_BASE + 2))); a2=$(assigned $((ESCUCHA_ADMIN_PORT_BASE + 6)))
  [[ ${a1:-0} -ge 1 && ${a2:-0} -ge 1 ]] && break; sleep 0.1
done
# a worker without partitions would leave the other one doing all the work: no report then
[[ ${a1:-0} -ge 1 && ${a2:-0} -ge 1 ]] || {
  echo "bench: refusing to measure: classify workers hold ${a1:-0} and ${a2:-0} input partitions after 60 s" \
       "(both must hold at least one; see $ESCUCHA_STATE_DIR/logs/classify*.log)" >&2
  exit 3
}
KEY=$(cat "$ESCUCHA_STATE_DIR/demo-api-key")
B=$ESCUCHA_STATE_DIR/bench; mkdir -p "$B"

# Warm-up, not measured: a fresh broker spends its first seconds compiling its hot paths (the
# JVM's C2 compiler threads were the broker's largest CPU user in a JFR recording of a cold
# 100k run), and PostgreSQL's caches start empty. BENCH_WARMUP items go through the whole
# pipeline first (0: measure from cold, as before 2026-12-01 evening).
# Every stored row has its full-text vector (the fill runs behind the inserts), within 120 s:
# prioritize's count of vectors filled reaches the rows stored (polled from its metrics, not
# with queries that would add to the database's CPU on the run). Else no report (exit 3).
wait_searchable() {  # what: the phase whose rows are waited for
  local rows filled
  rows=$(psql -X -At "$ESCUCHA_PG_DSN" -c "SELECT count(*) FROM feedback")
  for _ in $(seq 600); do
    filled=$({ curl -s "localhost:$((ESCUCHA_ADMIN_PORT_BASE + 3))/metrics" || true; } |
      awk '/^escucha_prioritize_search_rows_total / {print int($2)}')
    ((${filled:-0} >= rows)) && return 0
    sleep 0.2
  done
  echo "bench: refusing to report: rows of $1 still without their full-text vector after 120 s" >&2
  exit 3
}
WARM=${BENCH_WARMUP:-30000}
if ((WARM > 0)); then
  /usr/bin/python3 bench/pipeline/drive.py "$WARM" "$ESCUCHA_HTTP_PORT" "$KEY" "$ESCUCHA_PG_DSN" "warm$$" >/dev/null
  # and the full-text fill of its rows done (it runs behind the inserts, and would otherwise
  # take the first seconds of the measured run's database time)
  wait_searchable "the warm-up"
fi
# Steady mode: BENCH_STEADY_WARMUP (20) s of the same rate first, not measured. The burst above
# does not reach the broker's steady-state code paths: without this its JIT compiler spent
# ~15 s of CPU inside the measured minute, and the first 30 s had twice the later p99.
SWARM=${BENCH_STEADY_WARMUP:-20}
if [[ -n $RATE ]] && ((SWARM > 0)); then
  /usr/bin/python3 bench/pipeline/steady.py "$ESCUCHA_HTTP_PORT" "$KEY" "$ESCUCHA_PG_DSN" "swarm$$" "$RATE" "$SWARM" \
    >/dev/null 2>&1 || true  # its own verdict does not matter, only that the load ran
  wait_searchable "the steady warm-up"
fi
[[ -z $RATE ]] || : >"$ESCUCHA_STATE_DIR/logs/prioritize.log"  # its batch_timing: the measured run only

# CPU seconds each part spends on the run (utime+stime of the process and its children/threads)
declare -A PIDS=([ingest]=$(cat "$ESCUCHA_STATE_DIR/pids/ingest.pid") [classify]=$(cat "$ESCUCHA_STATE_DIR/pids/classify.pid")
  [classify-2]=$W2 [prioritize]=$(cat "$ESCUCHA_STATE_DIR/pids/prioritize.pid") [kafka]=$(cat "$ESCUCHA_STATE_DIR/pids/kafka.pid")
  [redis]=$(cat "$ESCUCHA_STATE_DIR/pids/redis.pid"))
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_cpu() {  # the postmaster and its backends
  local pm t=0 p; pm=$(cat "$ESCUCHA_STATE_DIR/pids/postgres.pid")
  for p in "$pm" $(pgrep -P "$pm"); do t=$((t + $(cpu_of "$p"))); done; echo $t
}
jit_cpu() {  # the broker JVM's JIT compiler threads (C1/C2 CompilerThread<n>)
  local t s=0
  for t in /proc/$1/task/*; do
    [[ $(cat "$t/comm" 2>/dev/null) == C[12]\ CompilerThre* ]] && s=$((s + $(cpu_of "${t#/proc/}")))
  done
  echo $s
}
declare -A CPU0
declare -A BE0
cpu_mark() {
  for k in "${!PIDS[@]}"; do CPU0[$k]=$(cpu_of "${PIDS[$k]}"); done
  PG0=$(pg_cpu) JIT0=$(jit_cpu "${PIDS[kafka]}")
  BE0=()
  local pid
  for pid in $(pgrep -P "$(cat "$ESCUCHA_STATE_DIR/pids/postgres.pid")"); do BE0[$pid]=$(cpu_of "$pid"); done
}
# PostgreSQL's CPU by client (pg_stat_activity's application_name: escucha-prioritize is the
# writer, escucha-prioritize-fill the search fill), backends' CPU since cpu_mark
pg_by_client() {
  local items=$1 tck pid app t
  tck=$(getconf CLK_TCK)
  declare -A BY=()
  while IFS='|' read -r pid app; do
    [[ -n $pid ]] || continue
    t=$(( $(cpu_of "$pid") - ${BE0[$pid]:-0} ))
    BY[${app:-(background)}]=$(( ${BY[${app:-(background)}]:-0} + t ))
  done < <(psql -X -At "$ESCUCHA_PG_DSN" -c "SELECT pid, coalesce(nullif(application_name, ''), backend_type)
                                             FROM pg_stat_activity")
  for app in "${!BY[@]}"; do
    printf '%-52s %9.1f %12.1f\n' "    postgres for $app" "$(awk -v d="${BY[$app]}" -v t="$tck" 'BEGIN {print d/t}')" \
      "$(awk -v d="${BY[$app]}" -v t="$tck" -v n="$items" 'BEGIN {print d/t/n*1e6}')"
  done | sort
}
search_report() {  # how the full-text vectors were made (services/prioritize/vector.c)
  curl -s "localhost:$((ESCUCHA_ADMIN_PORT_BASE + 3))/metrics" | awk '
    /^escucha_prioritize_search_rows_total / {t=$2} /^escucha_prioritize_search_vectors_made_here_total / {h=$2}
    /^escucha_prioritize_search_vectors_verified_total / {v=$2} /^escucha_prioritize_search_vectors_differ_total / {d=$2}
    END {printf "%-52s %d of %d (verified %d, differing %d)\n", "full-text vectors made by prioritize (run + warm-up)", h, t, v, d}'
}
cpu_report() {  # items: each part's CPU since cpu_mark, per item stored
  local items=$1 tck k jit cpu_total=0
  tck=$(getconf CLK_TCK)
  # CPU per feedback: each part's seconds on the run over the items stored, in µs
  printf '%-52s %9s %12s\n' "CPU on the run" "seconds" "µs/feedback"
  cpu_total=0
  cpu_line() {  # name ticks
    printf '%-52s %9.1f %12.1f\n' "  $1" "$(awk -v d="$2" -v t="$tck" 'BEGIN {print d/t}')" \
      "$(awk -v d="$2" -v t="$tck" -v n="$items" 'BEGIN {print d/t/n*1e6}')"
    cpu_total=$((cpu_total + $2))
  }
  for k in ingest classify classify-2 prioritize kafka redis; do cpu_line "$k" $(( $(cpu_of "${PIDS[$k]}") - CPU0[$k] )); done
  cpu_line "postgres (all backends)" $(( $(pg_cpu) - PG0 ))
  pg_by_client "$items"
  jit=$(( $(jit_cpu "${PIDS[kafka]}") - JIT0 ))
  printf '%-52s %9.1f %12.1f\n' "  total" "$(awk -v d="$cpu_total" -v t="$tck" 'BEGIN {print d/t}')" \
    "$(awk -v d="$cpu_total" -v t="$tck" -v n="$items" 'BEGIN {print d/t/n*1e6}')"
  # A broker that has run for days has compiled its hot paths long ago; a fresh one still spends
  # seconds of CPU on it after the warm-up, so that share is shown apart.
  printf '%-52s %9.1f %12.1f\n' "  of which the broker's JIT compiler (one-time)" "$(awk -v d="$jit" -v t="$tck" 'BEGIN {print d/t}')" \
    "$(awk -v d="$jit" -v t="$tck" -v n="$items" 'BEGIN {print d/t/n*1e6}')"
  printf '%-52s %9.1f %12.1f\n' "  total without it (steady state)" "$(awk -v d="$((cpu_total - jit))" -v t="$tck" 'BEGIN {print d/t}')" \
    "$(awk -v d="$((cpu_total - jit))" -v t="$tck" -v n="$items" 'BEGIN {print d/t/n*1e6}')"
}
cpu_mark
if [[ -n $RATE ]]; then
  out=$(/usr/bin/python3 bench/pipeline/steady.py "$ESCUCHA_HTTP_PORT" "$KEY" "$ESCUCHA_PG_DSN" "steady$$" "$RATE" "$SECS") ||
    exit $?
  echo "$out" >"$B/steady.json"
  /usr/bin/python3 - "$out" "$(nproc)" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
print("\npipeline at a steady %d feedback/s for %s s (%s cores, 2 classify workers): %d items, sent %d/s"
      % (d["rate_asked"], d["seconds"], sys.argv[2], d["items"], d["rate_sent"]))
print("  accept -> row committed:      p50 %6.0f ms  p99 %6.0f ms  max %6.0f ms  (target p99 < 500 ms: %s)"
      % (d["row_p50_ms"], d["row_p99_ms"], d["row_max_ms"], "met" if d["row_p99_ms"] < 500 else "NOT met"))
print("  accept -> priority updated:   p50 %6.0f ms  p99 %6.0f ms  (polled every %d ms; %d rows never seen ranked)"
      % (d["prio_p50_ms"], d["prio_p99_ms"], d["poll_ms"], d["prio_not_seen"]))
print("  accept -> row p99 per 10 s of sending: %s ms" % d["row_p99_ms_per_10s"])
print("    of it accept -> classified:    %s ms" % d["classified_p99_ms_per_10s"])
print("    classified -> row committed:   %s ms" % d["stored_after_classified_p99_ms_per_10s"])
PY
  # escucha-prioritize's transactions on the run (debug batch_timing lines): rows and ms per phase
  /usr/bin/python3 - "$ESCUCHA_STATE_DIR/logs/prioritize.log" <<'PY'
import re, sys
keys = ["rows", "lookup_ms", "copy_ms", "agg_ms", "rank_ms", "commit_ms"]
v = {k: [] for k in keys}
for line in open(sys.argv[1], errors="replace"):
    if '"batch_timing"' in line and "rows=1 " not in line:  # not the warm-up item
        for k in keys:
            m = re.search(r"\b%s=([0-9.]+)" % k, line)
            v[k].append(float(m.group(1)) if m else 0.0)
n = len(v["rows"])
if n:
    print("  prioritize: %d transactions, mean per transaction: %s" % (n, ", ".join(
        "%s %.0f" % (k, sum(v[k]) / n) for k in keys)))
PY
  # the same breakdown as a burst run, to compare CPU per feedback at a steady rate with it
  # (the driver's own CPU, steady.py on the same cores, is not counted)
  cpu_report "$(/usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['items'])" "$out")"
  search_report
  exit 0
fi

# Raw Kafka pass-through: the same ~300-byte JSON lines produced and consumed by kcat,
# consumer started first, the clock stops when it has read all N.
/usr/bin/python3 - "$N" >"$B/raw.ndjson" <<'PY'
import json, sys
t = "Solicitud raw-%d: llevo tres semanas esperando respuesta sobre mi trámite de licencia médica en la sucursal del centro y nadie contesta el teléfono ni los correos; la atención fue muy lenta."
for i in range(int(sys.argv[1])):
    print(json.dumps({"text": t % i, "service": "licencias", "csat": 1 + i % 5, "nps": i % 11}))
PY
RAW_TOPIC=bench.raw.$$   # 3 partitions like the pipeline's topics
/usr/bin/python3 scripts/kafka_topics.py --partitions 3 "$ESCUCHA_KAFKA_BROKERS" "$RAW_TOPIC" >/dev/null
t0=$(date +%s.%N)
kcat -b "$ESCUCHA_KAFKA_BROKERS" -C -t "$RAW_TOPIC" -o beginning -c "$N" -q -X topic.metadata.refresh.interval.ms=100 >/dev/null 2>&1 &
C=$!
kcat -b "$ESCUCHA_KAFKA_BROKERS" -P -t "$RAW_TOPIC" -X enable.idempotence=true -X linger.ms=5 -l "$B/raw.ndjson"
wait $C
t1=$(date +%s.%N)
raw=$(awk -v n="$N" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.0f", n/(e-s)}')

cpu_mark  # after the kcat pass: the broker's CPU for it is not the pipeline's
tw0=$(date +%s.%N)
out=$(/usr/bin/python3 bench/pipeline/drive.py "$N" "$ESCUCHA_HTTP_PORT" "$KEY" "$ESCUCHA_PG_DSN" "bench$$")
# CPU per feedback counts the whole fill: its vectors are part of storing an item (until
# 2026-12-01 night the CPU was read when the last row was stored, with the fill still behind)
wait_searchable "the run"
tw1=$(date +%s.%N)
read -r items total p50 p99 < <(/usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(d['items'], d['total_s'], d['p50_ms'], d['p99_ms'])" "$out")
rate=$(awk -v n="$items" -v t="$total" 'BEGIN {printf "%.0f", n/t}')

printf '\n%-52s %12s %8s\n' "pipeline benchmark ($(nproc) cores, N=$N after $WARM warm-up, 2 classify workers)" "per second" "ratio"
printf '%-52s %12s %8s\n' "raw Kafka produce->consume (kcat, acks=all)" "$raw" "1.00"
printf '%-52s %12s %8s\n' "HTTP accept -> PostgreSQL row, whole pipeline" "$rate" \
  "$(awk -v a="$rate" -v b="$raw" 'BEGIN {printf "%.2f", a/b}')"
# what a steady load can sustain: the search fill runs behind the rows and must keep up too
printf '%-52s %12s %8s\n' "  ... until every row also has its full-text vector" \
  "$(awk -v n="$N" -v s="$tw0" -v e="$tw1" 'BEGIN {printf "%.0f", n/(e-s)}')" \
  "$(awk -v n="$N" -v s="$tw0" -v e="$tw1" -v b="$raw" 'BEGIN {printf "%.2f", n/(e-s)/b}')"
printf '%-52s %9.0f ms\n' "latency accept->row p50" "$p50"
printf '%-52s %9.0f ms\n' "latency accept->row p99" "$p99"
for s in ingest classify prioritize actions; do
  pid=$(cat "$ESCUCHA_STATE_DIR/pids/$s.pid")
  printf '%-52s %9s kB\n' "peak RSS $s" "$(awk '/VmHWM/ {print $2}' /proc/$pid/status)"
done
printf '%-52s %9s kB\n' "peak RSS classify (2nd worker)" "$(awk '/VmHWM/ {print $2}' /proc/$W2/status)"
cpu_report "$items"
search_report
