"""Learning from reviewers on the real stack: `escucha-classify retrain` and
`rollback` against PostgreSQL (the `models` table) with two classify workers
consuming Kafka in one group.

- a poisoned correction set (labels shuffled) is refused: a `refused` row,
  exit 3, the workers' model file untouched;
- a good correction set (new, correctly labelled rows) is accepted: the
  active row changes and both workers serve it without a restart (they watch
  the model file): every output after the switch carries the new
  model_version, from partitions held by both workers;
- rollback makes the previous model active again, in the table and in both
  workers' output.

Training data is a small slice of the bundled data (prepare-data.py), so the
three trainings stay short under ASan."""
import csv
import json
import os
import random
import subprocess
import sys

import psycopg2

from conftest import BIN, PG_DSN, REPO, producer, unique, wait_until
from test_classify_workers import IN, OUT, Reader, feedback, outputs_by_id, produce_all, start_group_at_end

CLASSIFY = os.path.join(BIN, "escucha-classify")
TAXONOMY = os.path.join(REPO, "config", "taxonomy.default.json")
COLS = ["id", "text", "category", "subcategory", "sentiment", "journey_stage", "language"]


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def write_jsonl(path, rows, agency):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            o = {"id": r["id"], "text": r["text"], "category": r["category"], "subcategory": r["subcategory"],
                 "sentiment": r["sentiment"], "language": r["language"], "agency": agency}
            f.write(json.dumps({k: v for k, v in o.items() if v}, ensure_ascii=False) + "\n")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def retrain(work, corrections, model):
    p = subprocess.run([CLASSIFY, "retrain", "--pg-dsn", PG_DSN, "--model", model, "--taxonomy", TAXONOMY,
                        "--train-data", os.path.join(work, "train.csv"), "--test-data", os.path.join(work, "test.csv"),
                        "--corrections-file", corrections, "--models-dir", os.path.join(work, "models"),
                        "--migrations-dir", os.path.join(REPO, "migrations"), "--state-dir", work],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    return p.returncode, (json.loads(lines[-1]) if lines else None), p.stderr


def models_rows():
    with psycopg2.connect(PG_DSN) as c, c.cursor() as cur:
        cur.execute("SELECT version, status, active, training_rows, metrics, reason FROM models ORDER BY id")
        return cur.fetchall()


def versions_served(out, prefix):
    return {cf.classification.model_version for rows in outputs_by_id(out.msgs, prefix).values() for _, cf in rows}


def test_retrain_refuses_poison_takes_good_rolls_back(services, tmp_path):
    work = str(tmp_path)
    subprocess.run([sys.executable, os.path.join(REPO, "scripts", "prepare-data.py"), os.path.join(work, "full")],
                   check=True, capture_output=True)
    train_all = read_csv(os.path.join(work, "full", "train.csv"))
    test_all = read_csv(os.path.join(work, "full", "test.csv"))
    en = [r for r in train_all if r["language"] == "en"]
    es = [r for r in train_all if r["language"] == "es"]
    base = en[:1000] + es[:300]
    write_csv(os.path.join(work, "train.csv"), base)
    write_csv(os.path.join(work, "test.csv"),
              [r for r in test_all if r["language"] == "en"][:300] + [r for r in test_all if r["language"] == "es"][:150])
    model = os.path.join(work, "model.bin")
    subprocess.run([CLASSIFY, "train", "--taxonomy", TAXONOMY, "--data", os.path.join(work, "train.csv"),
                    "--out", model, "--seed", "42", "--quiet"], check=True, capture_output=True, timeout=600)
    with psycopg2.connect(PG_DSN) as c, c.cursor() as cur:
        # a fresh table: retrain applies the migration again
        cur.execute("DROP TABLE IF EXISTS models")
        cur.execute("DELETE FROM schema_migrations WHERE version = '013_models.sql'")

    # two workers in one fresh group, both holding input partitions, watching the model file
    group, prefix = unique("retrain"), unique("fb") + "-"
    start_group_at_end(group)
    env = {"ESCUCHA_GROUP": group, "ESCUCHA_CORRECTIONS_TOPIC": "", "ESCUCHA_MODEL": model,
           "ESCUCHA_MODEL_WATCH_MS": "200"}
    a = services.start("classify", env=dict(env, ESCUCHA_TRANSACTIONAL_ID=group + "-a"), instance=0)
    b = services.start("classify", env=dict(env, ESCUCHA_TRANSACTIONAL_ID=group + "-b"), instance=1)
    wait_until(lambda: a.metric("escucha_classify_assigned_partitions") > 0
               and b.metric("escucha_classify_assigned_partitions") > 0, 60, what="both workers assigned")
    out, p = Reader(OUT), producer()
    texts = [r["text"] for r in test_all[:40]]

    def round_of(tag):
        """Classifies a batch spread over every partition; returns the versions served."""
        ids = ["%s%s-%d" % (prefix, tag, i) for i in range(len(texts))]
        produce_all(p, [(i.encode(), feedback(i, t)) for i, t in zip(ids, texts)])
        out.until(lambda: set(ids) <= set(outputs_by_id(out.msgs, prefix + tag + "-")), 120, "round " + tag)
        return versions_served(out, prefix + tag + "-")

    [v1] = round_of("initial")

    # 1. poisoned corrections: the base rows' labels shuffled among them -> refused
    labelled = [dict(r) for r in base if r["subcategory"]][:400]
    subs = [r["subcategory"] for r in labelled]
    sents = [r["sentiment"] for r in labelled]
    rnd = random.Random(7)
    rnd.shuffle(subs)
    rnd.shuffle(sents)
    for r, s, t in zip(labelled, subs, sents):
        r["subcategory"], r["category"], r["sentiment"] = s, s.split("/")[0], t
    poison = os.path.join(work, "poison.jsonl")
    write_jsonl(poison, labelled, "agency-poison")
    st = os.stat(model)
    rc, res, err = retrain(work, poison, model)
    assert rc == 3, (rc, res, err[-2000:])
    assert res["result"] == "refused" and "macro-F1" in res["reason"]
    rows = models_rows()
    assert [(r[0], r[1], r[2]) for r in rows] == [(v1, "active", True), (res["version"], "refused", False)]
    assert rows[1][5] == res["reason"] and "test" in rows[1][4]
    after = os.stat(model)
    assert (after.st_ino, after.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)  # workers' file untouched

    # 2. good corrections: new rows with their true labels, from two agencies -> accepted
    good = os.path.join(work, "good.jsonl")
    write_jsonl(good, en[1000:1400], "agency-a")
    tmp = os.path.join(work, "good_es.jsonl")
    write_jsonl(tmp, es[300:600], "agency-b")
    with open(good, "a", encoding="utf-8") as f, open(tmp, encoding="utf-8") as g:
        f.write(g.read())
    rc, res, err = retrain(work, good, model)
    assert rc == 0, (rc, res, err[-2000:])
    v2, refused = res["version"], rows[1][0]
    assert res["result"] == "accepted" and v2 != v1
    assert {"test", "validation:agency-a", "validation:agency-b"} <= set(res["metrics"])
    rows = models_rows()
    assert [(r[0], r[1], r[2]) for r in rows] == [(v1, "retired", False), (refused, "refused", False),
                                                  (v2, "active", True)]
    tr = rows[2][3]
    assert tr["corrections"] > 0 and tr["sentiment"]["es"] > 300 and tr["subcategory"]["en"] > 0
    for w in (a, b):  # both reloaded from the watched file, no restart, no SIGHUP
        wait_until(lambda: w.metric('escucha_classify_model_info{version="%s"}' % v2) == 1, 60,
                   what="worker serves %s" % v2)
        assert w.proc.poll() is None and w.metric('escucha_classify_reloads_total{result="ok"}') >= 1
    assert round_of("good") == {v2}

    # 3. rollback: v1 active again, in the table and in both workers
    r = subprocess.run([CLASSIFY, "rollback", "--pg-dsn", PG_DSN, "--model", model,
                        "--migrations-dir", os.path.join(REPO, "migrations"), "--state-dir", work],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.splitlines()[-1]) == {"result": "rolled_back", "from": v2, "version": v1}
    assert [(x[0], x[1], x[2]) for x in models_rows()] == \
        [(v1, "active", True), (refused, "refused", False), (v2, "rolled_back", False)]
    for w in (a, b):
        wait_until(lambda: w.metric('escucha_classify_model_info{version="%s"}' % v1) == 1, 60,
                   what="worker back on %s" % v1)
    assert round_of("rollback") == {v1}
    out.close()
