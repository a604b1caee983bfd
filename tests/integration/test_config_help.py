"""Every ESCUCHA_* variable a service reads is listed by its --help.

No stack needed: the sources are grepped for ESCUCHA_* names (and, for
actions, the per-connector settings ac_conn_opt reads as
ESCUCHA_<TOOL>_<NAME>), and each name must appear in the binary's --help
(ESCUCHA_BIN_DIR, default build/bin). Settings read from the environment
outside the option table (a getenv in a service) are refused too, so a new
variable cannot bypass lib/config.

Run: /usr/bin/python3 -m pytest tests/integration/test_config_help.py
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("ESCUCHA_BIN_DIR") or REPO / "build" / "bin")
if not BIN_DIR.is_absolute():
    BIN_DIR = REPO / BIN_DIR
APPS = ["ingest", "classify", "prioritize", "actions", "api"]
NAME = re.compile(r"\bESCUCHA_[A-Z0-9_]+")
NOT_VARIABLES = {"ESCUCHA_VERSION", "ESCUCHA_FUZZ"}  # macros
# getenv outside the table: only classify's train/eval/predict subcommands,
# which read the serve table's own ESCUCHA_TAXONOMY/MODEL/CONFIDENCE_THRESHOLD
GETENV_ALLOWED = {"services/classify/cli.c"}


def sources(app):
    files = sorted((REPO / "services" / app).glob("*.[ch]")) + sorted((REPO / "lib").glob("*.[ch]"))
    return {f: f.read_text(errors="replace") for f in files}


CODE = re.compile(r'("(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')|/\*.*?\*/|//[^\n]*', re.S)


def without_comments(text):
    """C source with its comments removed (string literals kept)."""
    return CODE.sub(lambda m: m.group(1) or " ", text)


INCLUDE = re.compile(r'#include\s+"([^"/]+)\.h"')


def used_lib_modules(app):
    """lib modules an app uses: the headers its own sources include (and the
    headers those include), so a lib/keys.c message naming ESCUCHA_API_KEYS counts
    for ingest and api, not for classify."""
    todo = set()
    for f in sorted((REPO / "services" / app).glob("*.[ch]")):
        todo |= set(INCLUDE.findall(f.read_text(errors="replace")))
    seen = set()
    while todo:
        m = todo.pop()
        if m in seen or not (REPO / "lib" / (m + ".h")).is_file():
            continue
        seen.add(m)
        for ext in (".h", ".c"):
            f = REPO / "lib" / (m + ext)
            if f.is_file():
                todo |= set(INCLUDE.findall(f.read_text(errors="replace")))
    return seen


def names_in_sources(app):
    out = set()
    used = used_lib_modules(app)
    for f, text in sources(app).items():
        if f.parent.name == "lib" and f.stem not in used:
            continue
        for n in NAME.findall(without_comments(text)):
            if n.endswith("_H") or n.startswith("ESCUCHA__") or n in NOT_VARIABLES:
                continue  # include guards, protobuf enums, macros
            out.add(n)
    return out


def connector_names():
    """ESCUCHA_<TOOL>_<NAME> for every setting ac_conn_opt reads."""
    d = REPO / "services" / "actions"
    call = re.compile(r'ac_conn_opt\(\s*(\w+)\s*,\s*"([a-z_]+)"')
    generic = {"base_url", "markup", "token", "token_file"}
    tools = sorted(p.stem[len("conn_"):] for p in d.glob("conn_*.c"))
    assert tools, "no connectors found"
    out = set()
    for tool in tools:
        names = generic | {n for _, n in call.findall((d / f"conn_{tool}.c").read_text())}
        out |= {f"ESCUCHA_{tool.upper()}_{n.upper()}" for n in names}
    # shared code: reads on the digest's e-mail connector, or on any connector
    for f in ("ac_conn.c", "main.c", "digest.c", "digest_db.c"):
        for var, n in call.findall((d / f).read_text()):
            if var == "email":
                out.add(f"ESCUCHA_EMAIL_{n.upper()}")
            else:
                assert n in generic or n == "api_version", f"{f}: generic connector setting {n} not in the check"
    return out


def help_text(app):
    binary = BIN_DIR / f"escucha-{app}"
    assert binary.is_file(), f"{binary} missing: build it (make bins) or set ESCUCHA_BIN_DIR"
    r = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL, env={k: v for k, v in os.environ.items()
                                                      if not k.startswith("ESCUCHA_")})
    assert r.returncode == 0, f"{binary} --help exited {r.returncode}: {r.stderr[-500:]}"
    return r.stdout


@pytest.mark.parametrize("app", APPS)
def test_help_lists_every_variable_in_sources(app):
    want = names_in_sources(app)
    if app == "actions":
        want |= connector_names()
    text = help_text(app)
    listed = set(NAME.findall(text))
    # a name ending in "_" is a prefix (ESCUCHA_DIGEST_TO_<AGENCY>): --help shows it with its placeholder
    missing = sorted(n for n in want if (n not in listed if not n.endswith("_") else n + "<" not in text))
    assert not missing, f"escucha-{app} --help does not list {missing}"


@pytest.mark.parametrize("app", APPS)
def test_no_getenv_outside_the_table(app):
    for f, text in sources(app).items():
        rel = str(f.relative_to(REPO))
        if rel.startswith("lib/") or rel in GETENV_ALLOWED:
            continue  # lib/config.c is the table; lib/kafka.c reads what the table exported
        assert "getenv(" not in without_comments(text), f"{rel} reads the environment outside the option table"


@pytest.mark.parametrize("app,flag,allowed", [
    ("ingest", "--http-port=80x", "0..65535"),
    ("ingest", "--utf8=fix", "reject|repair"),
    ("prioritize", "--emerging-ngram=4", "1..3"),
    ("classify", "--delivery=once", "exactly-once|at-least-once"),
    ("actions", "--digest-hour=24", "0..23"),
    ("actions", "--poll-interval-s=abc", "number"),
    ("api", "--pg-pool-size=0", "1..64"),
    ("api", "--cookie-secure=maybe", "on|off"),
])
def test_bad_value_is_refused(app, flag, allowed):
    r = subprocess.run([str(BIN_DIR / f"escucha-{app}"), flag], capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2, (flag, r.returncode, r.stderr[-300:])
    name = flag[2:].split("=")[0]
    env = "ESCUCHA_" + name.upper().replace("-", "_")
    assert f"--{name}" in r.stderr and env in r.stderr and allowed in r.stderr, r.stderr
