#!/usr/bin/env bash
# make fuzz: builds every libFuzzer target with clang (ASan+UBSan) and runs
# each for FUZZ_SECONDS (default 60) on its corpus fuzz/corpus/<name>/.
# New crashes land in build-fuzz/crashes/<name>/; fix them, then copy the
# input into the corpus so the replay in the test suite keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
make -j2 FUZZ=1 fuzzers
rc=0
for f in $(find build-fuzz/fuzz -type f -perm -u+x | sort); do
  name=$(basename "$f"); name=${name#fuzz_}
  corpus=fuzz/corpus/$name; mkdir -p "$corpus" "build-fuzz/crashes/$name" "build-fuzz/work/$name"
  echo "fuzz: $name for ${secs}s"
  if ! "$f" -max_total_time="$secs" -max_len=65536 -artifact_prefix="build-fuzz/crashes/$name/" \
       "build-fuzz/work/$name" "$corpus" >"build-fuzz/$name.log" 2>&1; then
    echo "fuzz: $name FOUND A CRASH: see build-fuzz/$name.log and build-fuzz/crashes/$name/"; rc=1
  else
    tail -1 "build-fuzz/$name.log"
  fi
done
exit $rc
