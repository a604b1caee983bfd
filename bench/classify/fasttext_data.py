#!/usr/bin/python3
"""Writes fastText files for one head: fasttext_data.py in.csv head out.txt [texts.txt].
Rows with an empty label are skipped; labels become __label__<label>. Text is
lowercased with punctuation split off (fastText's usual preprocessing)."""
import csv, re, sys

def norm(t):
    return " ".join(re.findall(r"\w+|[^\w\s]", t.lower()))

def main():
    src, head, out = sys.argv[1:4]
    texts = open(sys.argv[4], "w", encoding="utf-8") if len(sys.argv) > 4 else None
    with open(src, newline="", encoding="utf-8") as f, open(out, "w", encoding="utf-8") as o:
        for r in csv.DictReader(f):
            if not r[head]:
                continue
            o.write(f"__label__{r[head].replace(' ', '_')} {norm(r['text'])}\n")
            if texts:
                texts.write(norm(r["text"]) + "\n")

if __name__ == "__main__":
    main()
