"""classify, prioritize and actions refuse the same bad taxonomy the same way.

All three load the taxonomy through lib/taxonomy (es_taxonomy_load), so a file
classify refuses is not half-read by the others. Each binary (and actions'
digest subcommand) is run with a bad --taxonomy/ESCUCHA_TAXONOMY: it must exit
2, as for a bad option, before connecting to anything, and log one
"taxonomy_invalid" line whose message (the file and the JSON path with its
rule) is the same for every service. No stack needed.

Run: /usr/bin/python3 -m pytest tests/integration/test_taxonomy_refusal.py
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("ESCUCHA_BIN_DIR") or REPO / "build" / "bin")
if not BIN_DIR.is_absolute():
    BIN_DIR = REPO / BIN_DIR

RUNS = {  # how each service is started: argv after the binary
    "classify": [],
    "prioritize": [],
    "actions": [],
    "actions digest": ["digest", "--agency", "a", "--period", "daily", "--dry-run"],
}


def sub(**extra):
    s = {"id": "c/s", "labels": {"es": "S", "en": "S"}, "keywords": {"es": [], "en": []}, "actions": ["Act"]}
    s.update(extra)
    return s


def cat(subs, **extra):
    c = {"id": "c", "labels": {"es": "C", "en": "C"}, "subcategories": subs}
    c.update(extra)
    return c


# name -> (file content, the message after "<path>: ")
BAD = {
    "not_json": ('{"categories": [', "line 1 column 16: ']' expected near end of file"),
    "journey_stage": (json.dumps({"categories": [cat([sub(journey_stage="LATER")])]}),
                      "categories[0].subcategories[0].journey_stage: must be one of AWARENESS, REGISTRATION, "
                      "ACTIVATION, ONGOING_USE, SUPPORT, RENEWAL"),
    "duplicate_ids": (json.dumps({"categories": [cat([sub(), sub()])]}),
                      "categories: duplicate subcategory id 'c/s'"),
    # the shape prioritize used to take: a bare sub id, one label, no keywords
    "labels_only": (json.dumps({"categories": [cat([{"id": "c/s", "labels": {"en": "S"}}])]}),
                    "categories[0].subcategories[0].labels.es: missing"),
    "no_categories": (json.dumps({"version": 1}), "categories: missing"),
}


def run(app, env):
    name = app.split()[0]
    binary = BIN_DIR / f"escucha-{name}"
    assert binary.is_file(), f"{binary} missing: build it (make bins) or set ESCUCHA_BIN_DIR"
    e = {k: v for k, v in os.environ.items() if not k.startswith("ESCUCHA_")}
    e.update(env)
    # unreachable servers: a refusal must come before any connection attempt
    e.update({"ESCUCHA_KAFKA_BROKERS": "127.0.0.1:1", "ESCUCHA_PG_DSN": "host=127.0.0.1 port=1 connect_timeout=1",
              "ESCUCHA_REDIS_URL": "redis://127.0.0.1:1", "ESCUCHA_ADMIN_PORT": "0"})
    return subprocess.run([str(binary)] + RUNS[app], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, env=e, cwd=REPO)


def refusal(r):
    """The message of the one taxonomy_invalid log line."""
    lines = [json.loads(l) for l in r.stderr.splitlines() if l.startswith("{")]
    found = [l["msg"] for l in lines if l.get("event") == "taxonomy_invalid"]
    assert len(found) == 1, r.stderr[-1000:]
    return found[0]


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_service_refuses_the_same_bad_file(tmp_path, case):
    content, why = BAD[case]
    path = tmp_path / "taxonomy.json"
    path.write_text(content)
    msgs = {}
    for app in RUNS:
        r = run(app, {"ESCUCHA_TAXONOMY": str(path)})
        assert r.returncode == 2, (app, r.returncode, r.stderr[-1000:])
        msgs[app] = refusal(r)
    assert set(msgs.values()) == {f"{path}: {why}"}, msgs


def test_missing_file_is_refused_by_every_service(tmp_path):
    path = tmp_path / "nowhere.json"
    for app in RUNS:
        r = run(app, {"ESCUCHA_TAXONOMY": str(path)})
        assert r.returncode == 2, (app, r.returncode, r.stderr[-1000:])
        assert refusal(r) == f"{path}: No such file or directory", app


def test_flag_wins_over_environment(tmp_path):
    """--taxonomy is the same option: a bad file given as a flag is refused over a good env value."""
    path = tmp_path / "taxonomy.json"
    path.write_text(BAD["duplicate_ids"][0])
    good = str(REPO / "config" / "taxonomy.default.json")
    for app in ("classify", "prioritize", "actions"):
        binary = BIN_DIR / f"escucha-{app}"
        e = {k: v for k, v in os.environ.items() if not k.startswith("ESCUCHA_")}
        e.update({"ESCUCHA_TAXONOMY": good, "ESCUCHA_KAFKA_BROKERS": "127.0.0.1:1", "ESCUCHA_ADMIN_PORT": "0"})
        r = subprocess.run([str(binary), f"--taxonomy={path}"], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL, env=e, cwd=REPO)
        assert r.returncode == 2, (app, r.returncode, r.stderr[-1000:])
        assert refusal(r) == f"{path}: {BAD['duplicate_ids'][1]}", app
