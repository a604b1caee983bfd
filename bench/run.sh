#!/usr/bin/env bash
# make bench: every benchmark, each printing its numbers beside a reference measured in the
# same run on this machine (never part of `make test`). Output also lands in
# .escucha/bench/results.txt; docs/performance.md records a run with the machine description.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .escucha/bench
out=.escucha/bench/results.txt
{
  echo "# escucha benchmarks $(date -u +%FT%TZ) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  for b in ingest classify learning prioritize pipeline api urgent; do
    echo; echo "## $b"
    case $b in
      prioritize) ESCUCHA_STATE_DIR=$PWD/.escucha/bench-pz ESCUCHA_KAFKA_PORT=19592 ESCUCHA_KAFKA_CONTROLLER_PORT=19593 \
                  ESCUCHA_PG_PORT=15832 ESCUCHA_REDIS_PORT=16779 \
                  BENCH_PG_FRESH=1 bash -c 'scripts/stack.sh infra >/dev/null && scripts/stack.sh topics >/dev/null && scripts/stack.sh migrate >/dev/null &&
                    bench/prioritize/run.sh && bench/prioritize/run.sh --agencies 1,1000; rc=$?
                    scripts/stack.sh down >/dev/null; exit $rc' ;;
      *) bench/$b/run.sh ;;
    esac || echo "($b benchmark failed)"
  done
} 2>&1 | tee "$out"
