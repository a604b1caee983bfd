#!/usr/bin/python3
"""Learning curves: labelling in the review queue's order vs at random.

learning.py BIN TRAIN.csv TEST.csv OUT_DIR TASK [SEEDS] [MAX] [ORDERS]   (TASK: topics-en | sentiment-es;
SEEDS: comma-separated seeds, default 7,8,9; MAX: stop the curves at this many labels, a quick look;
ORDERS: queue,random (default) or queue alone while trying orders: the random curves depend only on
the seed, so they need not be redrawn for each candidate order; no ratio then, exit 3)
Environment: LEARNING_REVIEW_ARGS, extra arguments for each review-order call while trying orders
(whitespace-separated; "{batch}" becomes the number of labels the round takes)

Pool = the training rows of the task (NHS English rows with a topic, or
Spanish reviews with a sentiment). Per seed s, both orders start from the same
50 labels (a seeded random sample, seed s) and each round trains a model on the
labels so far (escucha-classify train, seed 42), then labels the next batch:
the queue's order takes the pool items `escucha-classify review-order --labels`
puts first (services/classify/review.c, the review queue's definition, given
the labels so far), random takes a random batch (seed s). So every seed gives
one queue curve and one random curve from the same start: the queue's spread
over start sets is measured, and each seed's ratio compares like with like.
Sizes: 50, 100, 150, 200, then every 100 to 1,000, every 200 after, then the
whole pool. Macro-F1 from `escucha-classify eval`, where a test class the model
has never seen counts (F1 0, its rows misses). Labels needed to reach 95 % of
the full-pool macro-F1: the first measured size at or above it, and the
crossing interpolated linearly between that size and the one before (said so
in the output). Exit 3 (after printing everything) when a curve never reaches
it (always the case when MAX stops the curves before it)."""
import csv, os, random, statistics, subprocess, sys

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
    raise SystemExit("learning.py: no %s macro-F1 for language %s in eval's output" % (head, lang))


def train(b, rows, head, out, tmp):
    write(tmp, rows, head)
    subprocess.run([b, "train", "--data", tmp, "--out", out, "--seed", "42", "--quiet"], check=True,
                   capture_output=True)


def grid(n):
    sizes = [50, 100, 150, 200] + list(range(300, 1001, 100))
    while sizes[-1] + 200 < n:
        sizes.append(sizes[-1] + 200)
    return [s for s in sizes if s < n] + [n]  # the whole pool: every curve ends at the full-pool model


def crossing(sizes, f1s, target):
    """(first measured size >= target, linear interpolation of the crossing) or (None, None)."""
    for k, (n, v) in enumerate(zip(sizes, f1s)):
        if v >= target:
            if k == 0:
                return n, float(n)
            n0, v0 = sizes[k - 1], f1s[k - 1]
            return n, n0 + (n - n0) * (target - v0) / (v - v0)
    return None, None


def curve(b, pool, start, sizes, head, lang, test, model, tmp, order, seed, out_dir):
    labelled, f1s = list(start), []
    rest = [i for i in range(len(pool)) if i not in set(start)]
    rr = random.Random(seed)
    labels = os.path.join(out_dir, "labels.txt")
    for k, n in enumerate(sizes):
        train(b, [pool[i] for i in labelled], head, model, tmp)
        f1s.append(f1(b, model, test, head, lang))
        print("  %s seed %d: %d labels, macro-F1 %.4f" % (order, seed, n, f1s[-1]), file=sys.stderr, flush=True)
        if k + 1 == len(sizes):
            break
        need = sizes[k + 1] - len(labelled)
        if order == "random":
            pick = rr.sample(rest, need)
        else:
            with open(labels, "w", encoding="utf-8") as f:
                f.write("".join(pool[i][head] + "\n" for i in labelled))
            texts = "\n".join(" ".join(pool[i]["text"].split()) for i in rest) + "\n"
            args = [b, "review-order", "--model", model, "--head", head, "--lang", lang, "--labels", labels]
            args += [a.replace("{batch}", str(need)) for a in os.environ.get("LEARNING_REVIEW_ARGS", "").split()]
            ranks = subprocess.run(args, input=texts, capture_output=True, text=True, check=True).stdout.split()
            if len(ranks) != len(rest):
                raise SystemExit("learning.py: review-order returned %d of %d items" % (len(ranks), len(rest)))
            pick = [rest[int(x)] for x in ranks[:need]]
        chosen = set(pick)
        labelled += pick
        rest = [i for i in rest if i not in chosen]
    return f1s


def main():
    b, train_csv, test_csv, out_dir, task = sys.argv[1:6]
    seeds = [int(s) for s in (sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] else "7,8,9").split(",")]
    cap = int(sys.argv[7]) if len(sys.argv) > 7 and sys.argv[7] else None
    head, lang = ("subcategory", "en") if task == "topics-en" else ("sentiment", "es")
    os.makedirs(out_dir, exist_ok=True)
    pool = [r for r in read(train_csv) if r["language"] == lang and r[head]]
    test = os.path.join(out_dir, task + "-test.csv")
    write(test, [r for r in read(test_csv) if r["language"] == lang and r[head]], head)
    model, tmp = os.path.join(out_dir, task + ".bin"), os.path.join(out_dir, task + "-train.csv")
    train(b, pool, head, model, tmp)
    full = f1(b, model, test, head, lang)
    target = 0.95 * full
    sizes = grid(len(pool))
    if cap:
        sizes = [n for n in sizes if n <= cap]
    orders = sys.argv[8].split(",") if len(sys.argv) > 8 and sys.argv[8] else ["queue", "random"]
    if not orders or any(o not in ("queue", "random") for o in orders):
        raise SystemExit("learning.py: ORDERS is queue,random or one of them")
    runs = [(o, s) for s in seeds for o in orders]
    starts = {s: random.Random(s).sample(range(len(pool)), 50) for s in seeds}
    curves = [curve(b, pool, starts[s], sizes, head, lang, test, model, tmp, o, s, out_dir) for o, s in runs]
    names = ["%s s%d" % (o, s) for o, s in runs]
    print("task %s: pool %d, test rows %d, full-pool macro-F1 %.4f, 95 %% = %.4f%s" %
          (task, len(pool), sum(1 for _ in open(test, encoding="utf-8")) - 1, full, target,
           ", curves stopped at %d labels (quick look)" % sizes[-1] if cap else ""))
    print("%-13s %6s" % ("task", "labels") + "".join(" %10s" % n for n in names))
    for k, n in enumerate(sizes):
        print("%-13s %6d" % (task, n) + "".join(" %10.4f" % c[k] for c in curves))
    need = {}
    for (o, s), name, c in zip(runs, names, curves):
        hit, interp = crossing(sizes, c, target)
        need[o, s] = interp
        print("%s %s: labels to reach %.4f: %s" % (task, name, target, "first measured %d, interpolated %.0f" %
                                                   (hit, interp) if hit else "not reached by %d" % sizes[-1]))
    if any(x is None for x in need.values()):
        print("%s: a curve never reached 95 %% of the full-pool macro-F1; no ratio" % task)
        return 3
    if orders != ["queue", "random"] and orders != ["random", "queue"]:
        print("%s: one order only (%s); no ratio" % (task, ",".join(orders)))
        return 3
    q, r = [need["queue", s] for s in seeds], [need["random", s] for s in seeds]
    ratio = statistics.mean(q) / statistics.mean(r)
    print("%s summary: queue mean %.0f (%s), random mean %.0f (%s), ratio of the means %.2f (per seed, same start: "
          "%s; target <= 0.50: %s)" %
          (task, statistics.mean(q), " / ".join("%.0f" % x for x in q), statistics.mean(r),
           " / ".join("%.0f" % x for x in r), ratio, ", ".join("%.2f" % (a / z) for a, z in zip(q, r)),
           "met" if ratio <= 0.5 else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
