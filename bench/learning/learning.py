#!/usr/bin/python3
"""Learning curves: labelling in the review queue's order vs at random.

learning.py BIN TRAIN.csv TEST.csv OUT_DIR TASK   (TASK: topics-en | sentiment-es)

Pool = the training rows of the task (NHS English rows with a topic, or
Spanish reviews with a sentiment). Both runs start from the same 50 random
labels; each round trains a model on the labels so far (escucha-classify train,
seed 42), then labels the next batch: the queue's order takes the pool items
`escucha-classify review-order` puts first (services/classify/review.c, the
review queue's definition), random takes a seeded random batch. Sizes double
from 50, then the whole pool. Prints one line per size: task size f1_queue f1_random, then the labels
each order needs to reach 95 % of the full-pool macro-F1."""
import csv, os, random, subprocess, sys

COLS = ["id", "text", "category", "subcategory", "sentiment", "journey_stage", "language"]


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write(path, rows, head):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:  # only the head being learnt is labelled
            w.writerow({**r, "category": r["category"] if head == "subcategory" else "",
                        "subcategory": r["subcategory"] if head == "subcategory" else "",
                        "sentiment": r["sentiment"] if head == "sentiment" else ""})


def f1(b, model, test, head, lang):
    out = subprocess.run([b, "eval", "--model", model, "--data", test, "--brief"], capture_output=True, text=True,
                         check=True).stdout
    on = False
    for line in out.splitlines():
        if line.startswith(head + ":"):
            on = True
        elif on and line.strip().startswith("language %s:" % lang):
            return float(line.split()[-1])
    return 0.0


def train(b, rows, head, out, tmp):
    write(tmp, rows, head)
    subprocess.run([b, "train", "--data", tmp, "--out", out, "--seed", "42", "--quiet"], check=True,
                   capture_output=True)


def main():
    b, train_csv, test_csv, out_dir, task = sys.argv[1:6]
    head, lang = ("subcategory", "en") if task == "topics-en" else ("sentiment", "es")
    os.makedirs(out_dir, exist_ok=True)
    pool = [r for r in read(train_csv) if r["language"] == lang and r[head]]
    test = os.path.join(out_dir, task + "-test.csv")
    write(test, [r for r in read(test_csv) if r["language"] == lang and r[head]], head)
    model, tmp = os.path.join(out_dir, task + ".bin"), os.path.join(out_dir, task + "-train.csv")
    train(b, pool, head, model, tmp)
    full = f1(b, model, test, head, lang)
    sizes = [50]
    while sizes[-1] * 2 < len(pool):
        sizes.append(sizes[-1] * 2)
    sizes.append(len(pool))  # the whole pool: both orders end at the full-pool model
    rnd = random.Random(42)
    start = rnd.sample(range(len(pool)), 50)
    curves = {}
    for order in ("queue", "random"):
        labelled, f1s = list(start), []
        rest = [i for i in range(len(pool)) if i not in set(start)]
        rr = random.Random(7)
        for k, n in enumerate(sizes):
            train(b, [pool[i] for i in labelled], head, model, tmp)
            f1s.append(f1(b, model, test, head, lang))
            if k + 1 == len(sizes):
                break
            need = sizes[k + 1] - len(labelled)
            if order == "random":
                pick = rr.sample(rest, need)
            else:
                texts = "\n".join(" ".join(pool[i]["text"].split()) for i in rest) + "\n"
                args = [b, "review-order", "--model", model, "--head", head, "--lang", lang]
                ranks = subprocess.run(args, input=texts, capture_output=True, text=True, check=True).stdout.split()
                pick = [rest[int(x)] for x in ranks[:need]]
            chosen = set(pick)
            labelled += pick
            rest = [i for i in rest if i not in chosen]
        curves[order] = f1s
    print("task %s: pool %d, test %s, full-pool macro-F1 %.4f" % (task, len(pool), os.path.basename(test), full))
    print("%-13s %6s %10s %10s" % ("task", "labels", "queue", "random"))
    for n, q, r in zip(sizes, curves["queue"], curves["random"]):
        print("%-13s %6d %10.4f %10.4f" % (task, n, q, r))
    for order in ("queue", "random"):
        hit = next((n for n, v in zip(sizes, curves[order]) if v >= 0.95 * full), None)
        print("%s: labels to reach 95%% of full (%.4f): %s" % (order, 0.95 * full,
                                                              hit if hit else "> %d (not reached)" % sizes[-1]))


if __name__ == "__main__":
    main()
