"""The repository alone is enough for `make model` / `make demo`: a copy of
the committed tree (git archive HEAD, no ../shared beside it) prepares the
default training data (NHS + the Spanish reviews, all bundled under data/ with
their licences) and trains a model with Spanish sentiment from it."""
import csv
import os
import subprocess
import sys

from conftest import BIN, REPO


def test_fresh_copy_prepares_and_trains_without_shared(tmp_path):
    clone = tmp_path / "escucha"
    clone.mkdir()
    archive = subprocess.run(["git", "-C", REPO, "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(clone)], input=archive, check=True)
    assert not (tmp_path / "shared").exists()
    for d in ("nhs-patient-feedback", "coah-hotel-reviews-es", "coar-restaurant-reviews-es"):
        readme = (clone / "data" / d / "README.md").read_text(encoding="utf-8")
        assert "CC BY-NC-SA 4.0" in readme
    env = {k: v for k, v in os.environ.items() if k != "ESCUCHA_SHARED_DATA"}
    out = clone / "build" / "data"
    subprocess.run([sys.executable, "scripts/prepare-data.py", str(out)], cwd=str(clone), env=env, check=True,
                   capture_output=True)
    with open(out / "train.csv", newline="", encoding="utf-8") as f:
        train = list(csv.DictReader(f))
    with open(out / "test.csv", newline="", encoding="utf-8") as f:
        test = list(csv.DictReader(f))
    langs = {l: sum(r["language"] == l for r in train + test) for l in ("en", "es")}
    assert langs["en"] == 5643 and langs["es"] == 1434 + 1761
    assert not any(r["subcategory"] for r in train + test if r["language"] == "es")  # sentiment only
    assert not any(r["subcategory"] == "integrity/use_of_funds" for r in train + test)
    # a model trains from the copy's own files (a Spanish slice keeps it short under ASan)
    small = tmp_path / "small.csv"
    rows = [r for r in train if r["language"] == "es"][:400] + [r for r in train if r["language"] == "en"][:400]
    with open(small, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(train[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    model = tmp_path / "model.bin"
    cls = os.path.join(BIN, "escucha-classify")
    subprocess.run([cls, "train", "--taxonomy", str(clone / "config" / "taxonomy.default.json"), "--data", str(small),
                    "--out", str(model), "--quiet"], check=True, capture_output=True, timeout=600)
    p = subprocess.run([cls, "eval", "--model", str(model), "--data", str(out / "test.csv"), "--brief"],
                       check=True, capture_output=True, text=True, timeout=600)
    assert "language es:" in p.stdout.split("sentiment:")[1]
