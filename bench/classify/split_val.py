#!/usr/bin/python3
"""Carves a validation split out of the training split, for hyper-parameter
choices that must never look at the test split:
  split_val.py train.csv fit.csv val.csv [fraction=0.2]
Deterministic: rows ordered by SHA-1 of their text within each subcategory
(empty = its own group), every 1/fraction-th row goes to validation."""
import csv, hashlib, sys


def main():
    src, fit, val = sys.argv[1:4]
    frac = float(sys.argv[4]) if len(sys.argv) > 4 else 0.2
    with open(src, newline="", encoding="utf-8") as f:
        r = csv.DictReader(f)
        fields, rows = r.fieldnames, list(r)
    groups = {}
    for row in rows:
        groups.setdefault(row.get("subcategory", ""), []).append(row)
    step = max(2, round(1 / frac))
    out_fit, out_val = [], []
    for key in sorted(groups):
        g = sorted(groups[key], key=lambda x: hashlib.sha1(x["text"].encode()).hexdigest())
        for i, row in enumerate(g):
            (out_val if i % step == step - 1 else out_fit).append(row)
    for path, data in ((fit, out_fit), (val, out_val)):
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(data)


if __name__ == "__main__":
    main()
