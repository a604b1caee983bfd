#!/bin/sh
# Classifier benchmark, one run on one machine and one train/test split:
# Escucha's model vs fastText supervised (Debian fasttext) vs scikit-learn
# TF-IDF + LogisticRegression. Prints macro-F1 per head, prediction docs/s per
# core (single-threaded CPU time, model loading subtracted) and ratios, and
# the max RSS of `escucha-classify predict` over the test set.
set -eu
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
BIN="$BUILD/bin/escucha-classify"
OUT="${BENCH_OUT:-$BUILD/bench/classify}"
REPS="${BENCH_REPS:-60}"   # the test set is repeated to time prediction
mkdir -p "$OUT"
[ -x "$BIN" ] || make "$BIN"
/usr/bin/python3 scripts/prepare-data.py "$BUILD/data" 2>/dev/null
TRAIN="$BUILD/data/train.csv" TEST="$BUILD/data/test.csv"
# Hyper-parameters (ours: train defaults; sklearn: C and class weights) are
# chosen on a validation split carved from train, never on the test split.
/usr/bin/python3 bench/classify/split_val.py "$TRAIN" "$OUT/fit.csv" "$OUT/val.csv"

cpu() { # cpu seconds (user+sys) and max RSS KiB of a command: cpu CMD... ; stdin/stdout as given
  /usr/bin/time -f "%U %S %M" -o "$OUT/time.txt" "$@"
  awk '{printf "%.3f %d\n", $1 + $2, $3}' "$OUT/time.txt"
}

echo "== training (single thread)"
/usr/bin/python3 - "$TEST" "$OUT/test_texts.txt" <<'PY'
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as o:
    for r in csv.DictReader(f):
        o.write(" ".join(r["text"].split()) + "\n")
PY
ntest=$(wc -l < "$OUT/test_texts.txt")
: > "$OUT/big.txt"
i=0; while [ $i -lt "$REPS" ]; do cat "$OUT/test_texts.txt" >> "$OUT/big.txt"; i=$((i + 1)); done
nbig=$(wc -l < "$OUT/big.txt")
head -1 "$OUT/test_texts.txt" > "$OUT/one.txt"

ours_train=$(cpu "$BIN" train --data "$TRAIN" --out "$OUT/escucha.bin" --seed 42 --quiet)
"$BIN" eval --model "$OUT/escucha.bin" --data "$TEST" --brief > "$OUT/escucha_eval.txt"
# the old model: the same trainer without language spaces (one feature space,
# one L2 scale and one class balance for both languages), on the same rows
"$BIN" train --data "$TRAIN" --out "$OUT/escucha_old.bin" --seed 42 --quiet --no-lang-space --l2-sentiment-es -1
"$BIN" eval --model "$OUT/escucha_old.bin" --data "$TEST" --brief > "$OUT/escucha_old_eval.txt"
ours_sub=$(awk '/RESULT head=subcategory/ {split($3, a, "="); print a[2]}' "$OUT/escucha_eval.txt")
ours_sent=$(awk '/RESULT head=sentiment/ {split($3, a, "="); print a[2]}' "$OUT/escucha_eval.txt")

# fastText: one model per head, tuned as usually recommended for short texts.
FT_ARGS="-wordNgrams 2 -epoch 25 -lr 0.5 -dim 50 -minCount 1 -loss softmax -thread 1 -seed 42"
for head in subcategory sentiment; do
  /usr/bin/python3 bench/classify/fasttext_data.py "$TRAIN" $head "$OUT/ft_train_$head.txt"
  /usr/bin/python3 bench/classify/fasttext_data.py "$TEST" $head "$OUT/ft_test_$head.txt" "$OUT/ft_texts_$head.txt"
  cpu fasttext supervised -input "$OUT/ft_train_$head.txt" -output "$OUT/ft_$head" $FT_ARGS -verbose 0 > "$OUT/ft_train_time_$head.txt"
  fasttext predict "$OUT/ft_$head.bin" "$OUT/ft_texts_$head.txt" > "$OUT/ft_pred_$head.txt"
  /usr/bin/python3 bench/classify/f1.py "$OUT/ft_test_$head.txt" "$OUT/ft_pred_$head.txt" > "$OUT/ft_f1_$head.txt"
done
ft_sub=$(cut -d' ' -f1 "$OUT/ft_f1_subcategory.txt")
ft_sent=$(cut -d' ' -f1 "$OUT/ft_f1_sentiment.txt")

echo "== scikit-learn"
/usr/bin/python3 bench/classify/sklearn_baseline.py "$TRAIN" "$TEST" --val "$OUT/fit.csv" "$OUT/val.csv" 2>"$OUT/sklearn_choice.txt" > "$OUT/sklearn.txt"
cat "$OUT/sklearn_choice.txt"
sk_sub=$(awk '$1 == "subcategory" {print $2}' "$OUT/sklearn.txt")
sk_sent=$(awk '$1 == "sentiment" {print $2}' "$OUT/sklearn.txt")
sk_rate=$(awk '$1 == "subcategory" {s = $5} $1 == "sentiment" {t = $5} END {printf "%.0f", 1 / (1 / s + 1 / t)}' "$OUT/sklearn.txt")

echo "== prediction speed ($nbig docs, single thread, load time subtracted)"
# fastText texts are pre-tokenised for it; ours reads the raw text.
ft_big="$OUT/ft_big.txt"; : > "$ft_big"
/usr/bin/python3 - "$OUT/test_texts.txt" "$ft_big" "$REPS" <<'PY'
import re, sys
lines = [" ".join(re.findall(r"\w+|[^\w\s]", l.lower())) for l in open(sys.argv[1], encoding="utf-8")]
with open(sys.argv[2], "w", encoding="utf-8") as o:
    for _ in range(int(sys.argv[3])):
        o.write("\n".join(lines) + "\n")
PY
rate() { # rate N full_cpu load_cpu
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {d = a - b; if (d <= 0) d = 0.001; printf "%.0f", n / d}'
}
best_cpu() { # best of 3 runs: best_cpu INPUT CMD...
  inp=$1; shift; best=""
  for _ in 1 2 3; do
    c=$(cpu "$@" < "$inp" | cut -d' ' -f1)
    best=$(awk -v a="$c" -v b="$best" 'BEGIN {print (b == "" || a < b) ? a : b}')
  done
  echo "$best"
}
o_full=$(best_cpu "$OUT/big.txt" sh -c "\"$BIN\" predict --model \"$OUT/escucha.bin\" > /dev/null")
o_load=$(best_cpu "$OUT/one.txt" sh -c "\"$BIN\" predict --model \"$OUT/escucha.bin\" > /dev/null")
ours_rate=$(rate "$nbig" "$o_full" "$o_load")
for head in subcategory sentiment; do
  f_full=$(best_cpu /dev/null sh -c "fasttext predict \"$OUT/ft_$head.bin\" \"$ft_big\" > /dev/null")
  f_load=$(best_cpu /dev/null sh -c "fasttext predict \"$OUT/ft_$head.bin\" \"$OUT/one.txt\" > /dev/null")
  eval "ft_rate_$head=\$(rate \"$nbig\" \"$f_full\" \"$f_load\")"
done
# Ours answers both heads (and urgency, terms, JSON) in one pass; fastText
# needs one model per head, so its per-document rate for both is the harmonic sum.
ft_rate=$(awk -v a="$ft_rate_subcategory" -v b="$ft_rate_sentiment" 'BEGIN {printf "%.0f", 1 / (1 / a + 1 / b)}')

rss=$( { /usr/bin/time -v "$BIN" predict --model "$OUT/escucha.bin" < "$OUT/test_texts.txt" > /dev/null; } 2>&1 |
  awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
diff_pt() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f", 100 * (a - b)}'; }
best_sub=$(awk -v a="$ft_sub" -v b="$sk_sub" 'BEGIN {print (a > b) ? a : b}')
best_sent=$(awk -v a="$ft_sent" -v b="$sk_sent" 'BEGIN {print (a > b) ? a : b}')

echo
echo "Classifier benchmark: NHS patient feedback, $(wc -l < "$TRAIN") train rows (incl. header), $ntest test rows; $(nproc) cores, 1 used"
printf '%-28s %14s %14s %16s\n' "system" "subcat macroF1" "sentim macroF1" "docs/s/core (both heads)"
printf '%-28s %14s %14s %16s\n' "escucha (C, linear)" "$ours_sub" "$ours_sent" "$ours_rate"
printf '%-28s %14s %14s %16s\n' "fastText supervised" "$ft_sub" "$ft_sent" "$ft_rate"
printf '%-28s %14s %14s %16s\n' "sklearn TF-IDF + LR" "$sk_sub" "$sk_sent" "$sk_rate"
echo
# every head per language beside both baselines
per_lang() { # per_lang EVAL_FILE HEAD LANG -> macro-F1 of that head in that language ("-" if absent)
  awk -v h="$2" -v l="$3" '$1 == h":" {on = 1; next} /^RESULT/ {on = 0} on && $1 == "language" && $2 == l":" {print $5; f = 1} END {if (!f) print "-"}' "$1"
}
printf '\n%-14s %-5s %10s %10s %10s\n' "head" "lang" "escucha" "old model" "sklearn"
for head in subcategory sentiment; do
  for lang in en es; do
    sk=$(awk -v k="$head@$lang" '$1 == k {print $2}' "$OUT/sklearn.txt")
    printf '%-14s %-5s %10s %10s %10s\n' "$head" "$lang" "$(per_lang "$OUT/escucha_eval.txt" "$head" "$lang")" \
      "$(per_lang "$OUT/escucha_old_eval.txt" "$head" "$lang")" "${sk:--}"
  done
done
echo
echo "escucha vs best baseline: subcategory $(diff_pt "$ours_sub" "$best_sub") pt, sentiment $(diff_pt "$ours_sent" "$best_sent") pt (target: >= -1.0)"
echo "escucha speed vs fastText: $(ratio "$ours_rate" "$ft_rate")x both heads; $(ratio "$ours_rate" "$ft_rate_subcategory")x vs fastText single head ($ft_rate_subcategory docs/s) (target >= 1.5x)"
echo "escucha speed vs sklearn: $(ratio "$ours_rate" "$sk_rate")x"
echo "escucha predict max RSS over the test set: $((rss / 1024)) MB (target < 64 MB); model file $(($(stat -c %s "$OUT/escucha.bin") / 1024 / 1024)) MB"
echo "training cpu s: escucha $(echo "$ours_train" | cut -d' ' -f1), fastText $(cut -d' ' -f1 "$OUT/ft_train_time_subcategory.txt") + $(cut -d' ' -f1 "$OUT/ft_train_time_sentiment.txt")"
