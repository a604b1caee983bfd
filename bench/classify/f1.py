#!/usr/bin/python3
"""f1.py gold.txt predicted.txt -> "macro_f1 accuracy" (fastText label files)."""
import sys
from sklearn.metrics import f1_score, accuracy_score
gold = [l.split(" ", 1)[0] for l in open(sys.argv[1], encoding="utf-8")]
pred = [l.strip().split(" ")[0] for l in open(sys.argv[2], encoding="utf-8")]
print(f"{f1_score(gold, pred, average='macro'):.4f} {accuracy_score(gold, pred):.4f}")
