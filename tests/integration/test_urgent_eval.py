"""The urgent flag measured on the NHS patient feedback, end to end through the
operator CLI (no servers): prepare-data -> train (seed 42) -> urgent-eval. The
figures are computed here, not written down: the new flag (danger phrase, or an
urgent subcategory on a negative item) must flag under 1 % of the ordinary
comments, no more "I felt safe" look-alikes than the old category flag (which
flagged most of them), and find at least what the old flag found
(docs/classification.md, "Urgent: danger, not category")."""
import os
import subprocess
import sys

from conftest import BIN, REPO


def results(text):
    """RESULT rule=X k=v ... lines -> {rule: {k: float}}."""
    out = {}
    for line in text.splitlines():
        if not line.startswith("RESULT "):
            continue
        kv = dict(f.split("=", 1) for f in line.split()[1:])
        rule = kv.pop("rule")
        out[rule] = {k: float(v) for k, v in kv.items()}
    return out


def test_urgent_eval_nhs(tmp_path):
    cli = os.path.join(BIN, "escucha-classify")
    data = tmp_path / "data"
    subprocess.run([sys.executable, os.path.join(REPO, "scripts", "prepare-data.py"), str(data)], check=True,
                   capture_output=True, timeout=120)
    model = tmp_path / "model.bin"
    subprocess.run([cli, "train", "--taxonomy", os.path.join(REPO, "config", "taxonomy.default.json"),
                    "--data", str(data / "train.csv"), "--seed", "42", "--out", str(model), "--quiet"],
                   check=True, capture_output=True, timeout=600)
    nhs = os.path.join(REPO, "data", "nhs-patient-feedback", "feedback.csv")
    run = subprocess.run([cli, "urgent-eval", "--data", nhs, "--model", str(model)], check=True,
                         capture_output=True, text=True, timeout=600)
    r = results(run.stdout)
    assert set(r) == {"category", "phrase", "new"}, run.stdout
    assert r["new"]["fpr_ordinary"] < 0.01, run.stdout
    assert r["phrase"]["fpr_lookalike"] == 0, run.stdout
    assert r["new"]["fpr_lookalike"] < r["category"]["fpr_lookalike"], run.stdout
    assert r["new"]["recall"] >= r["category"]["recall"], run.stdout
    assert r["new"]["precision"] >= r["category"]["precision"], run.stdout
    # the phrase detector alone needs no model and agrees with the run above
    alone = subprocess.run([cli, "urgent-eval", "--data", nhs], check=True, capture_output=True, text=True,
                           timeout=600)
    assert results(alone.stdout) == {"phrase": r["phrase"]}, alone.stdout
