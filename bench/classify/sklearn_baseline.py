#!/usr/bin/python3
"""scikit-learn baseline for bench/classify/run.sh: TF-IDF (word 1-2 grams +
char_wb 2-5 grams, sublinear tf) + multinomial LogisticRegression, one model
per head. Prints one line per head: head macro_f1 accuracy n_test docs_per_s,
then one per head and language: head@lang macro_f1 accuracy n_test."""
import csv, sys, time
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, accuracy_score
from sklearn.pipeline import make_pipeline, make_union


def load(path, head, langs=None):
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r[head]]
    if langs is not None:
        langs.extend(r.get("language") or "und" for r in rows)
    return [r["text"] for r in rows], [r[head] for r in rows]


def model(C, balanced):
    feats = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2))
    lr = LogisticRegression(C=C, max_iter=2000, class_weight="balanced" if balanced else None)
    return make_pipeline(feats, lr)


def choose(fit, val, head):
    """C and class weighting by macro-F1 on the validation split (never the test split)."""
    xf, yf = load(fit, head)
    xv, yv = load(val, head)
    best = None
    for C in (1.0, 3.0, 10.0, 30.0):
        for balanced in (True, False):
            f1 = f1_score(yv, model(C, balanced).fit(xf, yf).predict(xv), average="macro")
            if best is None or f1 > best[0]:
                best = (f1, C, balanced)
    print(f"# {head}: chose C={best[1]} balanced={best[2]} (validation macro-F1 {best[0]:.4f})", file=sys.stderr)
    return best[1], best[2]


def main():
    """sklearn_baseline.py train.csv test.csv C balanced|none
       sklearn_baseline.py train.csv test.csv --val fit.csv val.csv   (C chosen on val per head)"""
    train, test = sys.argv[1], sys.argv[2]
    val = sys.argv[4:6] if len(sys.argv) > 5 and sys.argv[3] == "--val" else None
    C = float(sys.argv[3]) if len(sys.argv) > 3 and not val else 10.0
    balanced = (sys.argv[4] == "balanced") if len(sys.argv) > 4 and not val else True
    for head in ("subcategory", "sentiment"):
        if val:
            C, balanced = choose(val[0], val[1], head)
        xtr, ytr = load(train, head)
        langs = []
        xte, yte = load(test, head, langs)
        m = model(C, balanced).fit(xtr, ytr)
        t0 = time.process_time()
        reps = 5
        for _ in range(reps):
            pred = m.predict(xte)
        dt = (time.process_time() - t0) / reps
        print(f"{head} {f1_score(yte, pred, average='macro'):.4f} "
              f"{accuracy_score(yte, pred):.4f} {len(yte)} {len(yte) / dt:.0f}")
        for lang in sorted(set(langs)):
            i = [k for k, l in enumerate(langs) if l == lang]
            g, p = [yte[k] for k in i], [pred[k] for k in i]
            print(f"{head}@{lang} {f1_score(g, p, average='macro'):.4f} {accuracy_score(g, p):.4f} {len(i)}")


if __name__ == "__main__":
    main()
