#!/bin/sh
# Learning curves (bench/learning/learning.py): NHS topics (English) and Spanish
# sentiment, labelling in the review queue's order vs at random (seeds
# LEARNING_SEEDS, default 7,8,9: per seed one start set, one curve each way),
# from 50 labels. A quick look while trying orders (the full run is CPU-heavy):
# LEARNING_TASKS=topics-en LEARNING_SEEDS=7 LEARNING_MAX=2000 bench/learning/run.sh
# LEARNING_ORDERS=queue draws only the queue's curves (half the cost; the random
# curves depend on the seed alone, not on the order being tried; no ratio, exit 3).
# LEARNING_REVIEW_ARGS: extra arguments for each `review-order` call while trying
# orders ("{batch}" becomes the round's batch size), e.g. with the third round's
# patch applied (bench/learning/orders-round3.patch, docs/performance.md):
# LEARNING_REVIEW_ARGS='--strategy badge-bal --batch {batch}'.
# Exit non-zero when a task failed or a curve never reached 95 % of the
# full-pool macro-F1 (always with LEARNING_MAX below the crossing).
set -eu
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
BIN="$BUILD/bin/escucha-classify"
OUT="${BENCH_OUT:-$BUILD/bench/learning}"
[ -x "$BIN" ] || make "$BIN"
mkdir -p "$OUT"
/usr/bin/python3 scripts/prepare-data.py "$BUILD/data" 2>/dev/null
rc=0
for task in ${LEARNING_TASKS:-topics-en sentiment-es}; do
  /usr/bin/python3 bench/learning/learning.py "$BIN" "$BUILD/data/train.csv" "$BUILD/data/test.csv" "$OUT/$task" \
    "$task" "${LEARNING_SEEDS:-7,8,9}" "${LEARNING_MAX:-}" "${LEARNING_ORDERS:-}" || rc=$?
done
exit $rc
