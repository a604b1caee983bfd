#!/usr/bin/env bash
# bench/ingest: sustained accepted feedback/s of escucha-ingest (Kafka acks=all,
# idempotent producer, Redis dedup on) beside nginx answering a static 204 on
# the same machine in the same run, both driven by wrk over keep-alive.
# Ratios: single POSTs vs nginx at 128 and 512 clients (target >= 25%), batch items/s
# (target >= 100k).
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-128}
CONNS_HIGH=${BENCH_CONNECTIONS_HIGH:-512}
export ESCUCHA_STATE_DIR=${ESCUCHA_STATE_DIR:-$PWD/.escucha/bench}
export ESCUCHA_KAFKA_PORT=19492 ESCUCHA_KAFKA_CONTROLLER_PORT=19493 ESCUCHA_PG_PORT=15732 ESCUCHA_REDIS_PORT=16679
HTTP=18480 ADMIN=19491 NGINX=18481
# throughput JVM settings (the test stack's defaults favour start-up time)
export ESCUCHA_KAFKA_JVM_OPTS=${ESCUCHA_KAFKA_JVM_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20}
scripts/deps.sh >/dev/null
make -s -j2 bins
# a fresh broker log and dedup state each run (old runs' messages would only cost disk)
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$ESCUCHA_STATE_DIR/kafka/data"
scripts/stack.sh redis-wipe >/dev/null && scripts/stack.sh infra >/dev/null && scripts/stack.sh topics >/dev/null && scripts/stack.sh provision >/dev/null
B=$ESCUCHA_STATE_DIR/bench; mkdir -p "$B"
cleanup() {
  [[ -n ${ING:-} ]] && kill "$ING" 2>/dev/null && wait "$ING" 2>/dev/null
  [[ -f $B/nginx.pid ]] && kill "$(cat "$B/nginx.pid")" 2>/dev/null
  scripts/stack.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

# nginx: one worker, like our one event-loop thread
cat >"$B/nginx.conf" <<NGX
worker_processes 1;
pid $B/nginx.pid;
error_log $B/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $B/nginx-body;
  server { listen 127.0.0.1:$NGINX; location / { return 204; } }
}
NGX
nginx -c "$B/nginx.conf" -p "$B" 2>/dev/null
export ESCUCHA_BENCH_KEY=$(cat "$ESCUCHA_STATE_DIR/demo-api-key")
ESCUCHA_KAFKA_BROKERS=127.0.0.1:$ESCUCHA_KAFKA_PORT ESCUCHA_REDIS_URL=redis://127.0.0.1:$ESCUCHA_REDIS_PORT \
ESCUCHA_HTTP_PORT=$HTTP ESCUCHA_ADMIN_PORT=$ADMIN ESCUCHA_API_KEYS_FILE=$ESCUCHA_STATE_DIR/api-keys \
ESCUCHA_RATE_LIMIT=0 ESCUCHA_INBOUND=off ESCUCHA_LOG_LEVEL=warn build/bin/escucha-ingest 2>"$B/ingest.log" &
ING=$!
for _ in $(seq 100); do curl -sf "localhost:$ADMIN/readyz" >/dev/null && break; sleep 0.1; done

accepted() { curl -s "localhost:$ADMIN/metrics" | awk '/^escucha_ingest_items_total\{result="accepted"\}/ {print $2}'; }
rps() { awk '/^Requests\/sec:/ {print $2}'; }

# single POSTs at two client counts, nginx beside each: 202s wait for Redis and Kafka's
# acks=all, so few clients measure latency and many measure throughput
declare -A nginx_rps single
for c in $CONNS $CONNS_HIGH; do
  wrk -t1 -c"$c" -d2s "http://127.0.0.1:$NGINX/" >/dev/null   # warm-up
  nginx_rps[$c]=$(wrk -t1 -c"$c" -d"${DUR}s" "http://127.0.0.1:$NGINX/" | rps)
  wrk -t1 -c"$c" -d2s -s bench/ingest/single.lua "http://127.0.0.1:$HTTP" >/dev/null
  a0=$(accepted); t0=$(date +%s.%N)
  wrk -t1 -c"$c" -d"${DUR}s" -s bench/ingest/single.lua "http://127.0.0.1:$HTTP" >"$B/single-$c.txt"
  a1=$(accepted); t1=$(date +%s.%N)
  single[$c]=$(awk -v a="$a0" -v b="$a1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.0f", (b-a)/(e-s)}')
done

a0=$(accepted); t0=$(date +%s.%N)
wrk -t1 -c8 -d"${DUR}s" --timeout 30s -s bench/ingest/batch.lua "http://127.0.0.1:$HTTP" >"$B/batch.txt"
a1=$(accepted); t1=$(date +%s.%N)
batch=$(awk -v a="$a0" -v b="$a1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.0f", (b-a)/(e-s)}')
rss=$(awk '/VmHWM/ {print $2}' "/proc/$ING/status")

printf '\n%-46s %12s %10s\n' "ingest benchmark ($(nproc) cores, ${DUR}s)" "per second" "ratio"
for c in $CONNS $CONNS_HIGH; do
  printf '%-46s %12.0f %10s\n' "nginx static 204 (1 worker), $c conns" "${nginx_rps[$c]}" "1.00"
  printf '%-46s %12s %10s\n' "ingest single POST accepted (acks=all), $c conns" "${single[$c]}" \
    "$(awk -v a="${single[$c]}" -v b="${nginx_rps[$c]}" 'BEGIN {printf "%.2f", a/b}')"
done
printf '%-46s %12s %10s\n' "ingest NDJSON batch x1000, accepted items" "$batch" \
  "$(awk -v a="$batch" 'BEGIN {printf "%.2f", a/100000}') (vs 100k)"
printf '%-46s %12s\n' "ingest peak RSS (kB)" "$rss"
for c in $CONNS $CONNS_HIGH; do grep -E "Latency|Non-2xx" "$B/single-$c.txt" | sed "s/^/  single $c: /"; done
grep -E "Latency|Non-2xx" "$B/batch.txt" | sed 's/^/  batch:  /'

# the parser on its own, one core: ingest's (cJSON + checks) beside jansson's
cc -std=c11 -D_GNU_SOURCE -O2 -Ilib -Ibuild/gen -Iservices/ingest -o build/json_bench bench/ingest/json_bench.c \
  build/ingest/libingest.a build/libescucha.a -ljansson -lcjson -lutf8proc -lxxhash -lprotobuf-c -lm
printf '\n%-44s %12s %8s\n' "parse one ~300-byte feedback line (1 core)" "per line" "ratio"
build/json_bench
