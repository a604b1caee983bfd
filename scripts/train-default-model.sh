#!/bin/sh
# Trains the default classifier model (make model):
#   NHS patient feedback + COAH/COAR Spanish reviews (all CC BY-NC-SA 4.0, bundled in data/)
#   -> scripts/prepare-data.py -> train.csv/test.csv
#   -> escucha-classify train (fixed seed) -> $ESCUCHA_STATE_DIR/model.bin, then evaluates it.
# Environment: ESCUCHA_STATE_DIR (default .escucha), ESCUCHA_SHARED_DATA (default data/, the bundled copy),
# ESCUCHA_TAXONOMY (default config/taxonomy.default.json), BUILD (default build).
set -eu
cd "$(dirname "$0")/.."
STATE="${ESCUCHA_STATE_DIR:-.escucha}"
BUILD="${BUILD:-build}"
TAXONOMY="${ESCUCHA_TAXONOMY:-config/taxonomy.default.json}"
DATA="$BUILD/data"
BIN="$BUILD/bin/escucha-classify"
[ -x "$BIN" ] || make "$BIN"
mkdir -p "$STATE"
/usr/bin/python3 scripts/prepare-data.py "$DATA"
set -- --data "$DATA/train.csv"
# Operator corrections collected by the workers override the same texts.
[ -s "$STATE/corrections.jsonl" ] && set -- "$@" --data "$STATE/corrections.jsonl"
"$BIN" train --taxonomy "$TAXONOMY" "$@" --seed 42 --out "$STATE/model.bin"
"$BIN" eval --model "$STATE/model.bin" --data "$DATA/test.csv" --brief | grep -E '^(RESULT|model|threshold)|language'
