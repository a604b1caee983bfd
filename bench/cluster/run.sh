#!/usr/bin/env bash
# bench/cluster: the pipeline on one broker vs a 3-node replicated cluster (RF 3,
# min.insync.replicas 2), short runs, same machine, back to back. For each: kcat's acks=all
# produce->consume of the same number of ~300-byte messages on a topic replicated like the
# pipeline's, the pipeline's HTTP accept -> PostgreSQL row rate (NDJSON batches; ingest, one
# classify worker, prioritize) and the CPU each part spent per feedback (the brokers summed).
#   bench/cluster/run.sh            BENCH_N=30000 by default (short: the machine is shared)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${BENCH_N:-30000}
BASE=${ESCUCHA_STATE_DIR:-$PWD/.escucha/bench-cluster}
export ESCUCHA_KAFKA_PORT=19792 ESCUCHA_KAFKA_CONTROLLER_PORT=19793 ESCUCHA_PG_PORT=16032 ESCUCHA_REDIS_PORT=16979
export ESCUCHA_HTTP_PORT=18780 ESCUCHA_API_HTTP_PORT=18786 ESCUCHA_ADMIN_PORT_BASE=19780
export ESCUCHA_RATE_LIMIT=0 ESCUCHA_LOG_LEVEL=warn ESCUCHA_INBOUND=off
unset ESCUCHA_KAFKA_BROKERS ESCUCHA_KAFKA_JVM_OPTS
scripts/deps.sh >/dev/null
make -s -j2 bins
tck=$(getconf CLK_TCK)
# one model for both runs
export ESCUCHA_MODEL=$BASE/model.bin
mkdir -p "$BASE"
[[ -s $ESCUCHA_MODEL ]] || ESCUCHA_STATE_DIR=$BASE scripts/train-default-model.sh >/dev/null
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

run_one() { # NODES
  local k=$1 st=$BASE/n$1 out items total p50 p99 n503 raw t0 t1 i
  export ESCUCHA_STATE_DIR=$st ESCUCHA_KAFKA_BROKER_COUNT=$k
  unset ESCUCHA_KAFKA_BROKERS
  eval "$(scripts/env.sh)"
  scripts/stack.sh down >/dev/null 2>&1 || true
  rm -rf "$st/kafka"   # a fresh broker log each run
  # only the stages between the HTTP accept and the row (actions and the api add nothing here)
  scripts/stack.sh redis-wipe >/dev/null && scripts/stack.sh infra >/dev/null && scripts/stack.sh topics >/dev/null &&
    scripts/stack.sh migrate >/dev/null && scripts/stack.sh provision >/dev/null 2>&1
  for i in ingest classify prioritize; do scripts/stack.sh service-start "$i" >/dev/null; done
  local rf=$((k < 3 ? k : 3)); local isr=$((rf > 1 ? rf - 1 : 1))
  # kcat pass-through on a topic replicated like the pipeline's
  /usr/bin/python3 - "$N" >"$st/raw.ndjson" <<'PY'
import json, sys
t = "Solicitud raw-%d: llevo tres semanas esperando respuesta sobre mi trámite de licencia médica en la sucursal del centro y nadie contesta el teléfono ni los correos; la atención fue muy lenta."
for i in range(int(sys.argv[1])):
    print(json.dumps({"text": t % i, "service": "licencias", "csat": 1 + i % 5, "nps": i % 11}))
PY
  /usr/bin/python3 scripts/kafka_topics.py "$ESCUCHA_KAFKA_BROKERS" bench.raw --replication "$rf" --min-isr "$isr" >/dev/null
  t0=$(date +%s.%N)
  kcat -b "$ESCUCHA_KAFKA_BROKERS" -C -t bench.raw -o beginning -c "$N" -q -X topic.metadata.refresh.interval.ms=100 >/dev/null 2>&1 &
  local c=$!
  kcat -b "$ESCUCHA_KAFKA_BROKERS" -P -t bench.raw -X enable.idempotence=true -X linger.ms=5 -l "$st/raw.ndjson"
  wait $c
  t1=$(date +%s.%N)
  raw=$(awk -v n="$N" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.0f", n/(e-s)}')
  # CPU on the pipeline run
  local -A pids=([ingest]=$(cat "$st/pids/ingest.pid") [classify]=$(cat "$st/pids/classify.pid")
    [prioritize]=$(cat "$st/pids/prioritize.pid") [redis]=$(cat "$st/pids/redis.pid"))
  local kp=() f
  for f in "$st"/pids/kafka.pid "$st"/pids/kafka-[0-9].pid; do [[ -e $f ]] && kp+=("$(cat "$f")"); done
  local pm; pm=$(cat "$st/pids/postgres.pid")
  pg_cpu() { local t=0 p; for p in "$pm" $(pgrep -P "$pm"); do t=$((t + $(cpu_of "$p"))); done; echo $t; }
  kafka_cpu() { local t=0 p; for p in "${kp[@]}"; do t=$((t + $(cpu_of "$p"))); done; echo $t; }
  local -A c0
  for i in "${!pids[@]}"; do c0[$i]=$(cpu_of "${pids[$i]}"); done
  c0[kafka]=$(kafka_cpu); c0[postgres]=$(pg_cpu)
  out=$(/usr/bin/python3 bench/cluster/drive.py "$N" "$ESCUCHA_HTTP_PORT" "$(cat "$st/demo-api-key")" "$ESCUCHA_PG_DSN" "b$$n$k")
  read -r items total p50 p99 n503 < <(/usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(d['items'], d['total_s'], d['p50_ms'], d['p99_ms'], d['n503'])" "$out")
  local -A c1
  for i in "${!pids[@]}"; do c1[$i]=$(cpu_of "${pids[$i]}"); done
  c1[kafka]=$(kafka_cpu); c1[postgres]=$(pg_cpu)
  printf '\n%s (%d cores, N=%d, RF %d, min.insync.replicas %d)\n' \
    "$( ((k == 1)) && echo "one broker" || echo "$k-node cluster")" "$(nproc)" "$N" "$rf" "$isr"
  printf '  %-44s %10s/s\n' "kcat produce->consume, acks=all" "$raw"
  printf '  %-44s %10.0f/s  (%.2f of kcat; 503s: %d)\n' "HTTP accept -> PostgreSQL row" \
    "$(awk -v n="$items" -v t="$total" 'BEGIN {print n/t}')" "$(awk -v n="$items" -v t="$total" -v r="$raw" 'BEGIN {print n/t/r}')" "$n503"
  printf '  %-44s p50 %d ms, p99 %d ms\n' "latency accept->row" "$p50" "$p99"
  local tot=0
  for i in kafka ingest classify prioritize postgres redis; do
    local d=$((c1[$i] - c0[$i])); tot=$((tot + d))
    printf '  CPU %-40s %7.1f s %8.1f µs/feedback\n' "$i" "$(awk -v d=$d -v t="$tck" 'BEGIN {print d/t}')" \
      "$(awk -v d=$d -v t="$tck" -v n="$items" 'BEGIN {print d/t/n*1e6}')"
  done
  printf '  CPU %-40s %7.1f s %8.1f µs/feedback\n' total "$(awk -v d=$tot -v t="$tck" 'BEGIN {print d/t}')" \
    "$(awk -v d=$tot -v t="$tck" -v n="$items" 'BEGIN {print d/t/n*1e6}')"
  scripts/stack.sh down >/dev/null 2>&1 || true
}

trap 'for k in 1 3; do ESCUCHA_STATE_DIR=$BASE/n$k ESCUCHA_KAFKA_BROKER_COUNT=$k scripts/stack.sh down >/dev/null 2>&1; done' EXIT
for k in ${BENCH_NODES:-1 3}; do (run_one "$k"); done
