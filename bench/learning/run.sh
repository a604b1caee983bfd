#!/bin/sh
# Learning curves (bench/learning/learning.py): NHS topics (English) and Spanish
# sentiment, labelling in the review queue's order vs at random, from 50 labels.
set -eu
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
BIN="$BUILD/bin/escucha-classify"
OUT="${BENCH_OUT:-$BUILD/bench/learning}"
[ -x "$BIN" ] || make "$BIN"
mkdir -p "$OUT"
/usr/bin/python3 scripts/prepare-data.py "$BUILD/data" 2>/dev/null
for task in topics-en sentiment-es; do
  /usr/bin/python3 bench/learning/learning.py "$BIN" "$BUILD/data/train.csv" "$BUILD/data/test.csv" "$OUT" "$task"
done
