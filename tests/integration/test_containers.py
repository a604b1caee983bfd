"""The container path, really run (issue 18 item 6).

scripts/container-image.sh builds the Escucha image from deploy/Dockerfile with podman (runc)
on a Debian base made by debootstrap (no image registry is reachable here; the layers and the
base are cached, so a second run takes seconds). Then the five services run as containers of
that image, each with exactly the command, environment and mount targets
deploy/docker-compose.yml gives it, only the network addresses changed: the containers share
the host's network (--network=host) and reach this suite's Kafka, PostgreSQL and Redis on
their test ports, so compose's service names (kafka, postgres, redis, api) become
127.0.0.1:<port>. classify's state folder is a fresh named volume, as in compose.

Proven end to end: a POST and an Open311 request to the containerised ingest are classified by
the containerised classify (the image's default model), written to PostgreSQL by the
containerised prioritize (which applied the image's migrations at start), and read back through
the containerised escucha-api (item, citizen receipt, dashboard, an Open311 GET forwarded by
ingest); an urgent message becomes an issue in the test Redmine through the containerised
escucha-actions (the image's taxonomy routes cases there; the container gets the Redmine
connector's settings besides compose's); each service's compose healthcheck passes inside its
container. The containers and the volume are removed at the end, also on failure. Compose
itself is checked statically (test_compose.py): no compose engine runs here."""
import os
import re
import shutil
import subprocess
import time

import pytest
import requests

from conftest import (ADMIN, ADMIN_BASE, API_PG_DSN, BROKERS, HTTP_PORT, PG_DSN, REDIS_URL, REPO, STATE, _port_open,
                      post_json, sql, unique, wait_until)
from test_actions_redmine import redmine_running
from test_compose import APPS, COMPOSE, env_of, load

SLOT = os.environ.get("ESCUCHA_TEST_SLOT", "0") or "0"
IMAGE = "localhost/escucha:test%s" % SLOT
PREFIX = "escucha-test%s-" % SLOT
VOLUME = PREFIX + "data"
SCRIPT = os.path.join(REPO, "scripts", "container-image.sh")
HTTP = {"ingest": HTTP_PORT + 8, "api": HTTP_PORT + 9}  # clear of the other tests' ports (+12 met the slot below's Kafka port)
API_URL = "http://127.0.0.1:%d" % HTTP["api"]
# the order compose's depends_on gives: prioritize applies the migrations first
ORDER = ["prioritize", "classify", "ingest", "api", "actions"]


def admin_port(name):
    return ADMIN_BASE + 60 + ADMIN[name]


def podman(*args, timeout=120, check=True):
    p = subprocess.run(["podman"] + list(args), capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, "podman %s: %s" % (" ".join(args[:3]), (p.stderr or p.stdout)[-2000:])
    return p


def remove_all():
    for name in APPS:
        podman("rm", "-f", "-t", "10", PREFIX + name, check=False)
    podman("volume", "rm", "-f", VOLUME, check=False)


@pytest.fixture(scope="module")
def image():
    t0 = time.monotonic()
    p = subprocess.run([SCRIPT, "build"], capture_output=True, text=True, timeout=1800,
                       env=dict(os.environ, ESCUCHA_IMAGE=IMAGE))
    log = os.path.join(STATE, "logs", "container-image.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "w") as f:
        f.write(p.stdout + p.stderr)
    assert p.returncode == 0, "scripts/container-image.sh build failed (%s):\n%s" % (log, p.stderr[-4000:])
    assert p.stdout.split()[-1] == IMAGE
    print("image %s ready in %.0f s" % (IMAGE, time.monotonic() - t0))
    return IMAGE


@pytest.fixture(scope="module")
def run_args():
    p = subprocess.run([SCRIPT, "run-args"], capture_output=True, text=True, timeout=30, check=True)
    args = p.stdout.split()
    assert "--runtime=runc" in args and any(a.startswith("--ulimit=nofile=") for a in args)
    return args


@pytest.fixture(scope="module")
def secrets(image, run_args, tmp_path_factory):
    """Copies of the stack's key files (compose binds ../.escucha/<file>), owned by the image's
    user as the compose file tells operators to do: the receipt secret is 0600 on the host."""
    uid = podman("run", "--rm", "--network=none", *run_args, image, "id", "-u").stdout.strip()
    assert uid.isdigit() and uid != "0", "the image runs as root: %r" % uid
    d = tmp_path_factory.mktemp("container-secrets")
    for name in ("api-keys", "receipt.key", "contact.pub"):
        shutil.copy(os.path.join(STATE, name), d / name)
        os.chown(d / name, int(uid), int(uid))
        os.chmod(d / name, 0o400)
    return d


@pytest.fixture(scope="module")
def redmine():
    """The test Redmine (scripts/redmine.sh): the shipped taxonomy sends urgent cases there."""
    yield from redmine_running(600)


def rewrite_env(name, compose_env):
    """compose's environment of one service, its addresses moved to the test stack."""
    fixed = {
        "ESCUCHA_KAFKA_BROKERS": BROKERS, "ESCUCHA_PG_DSN": PG_DSN, "ESCUCHA_API_PG_DSN": API_PG_DSN,
        "ESCUCHA_REDIS_URL": REDIS_URL, "ESCUCHA_ADMIN_PORT": str(admin_port(name)),
        # the host's network: 0.0.0.0 would be every interface of this machine
        "ESCUCHA_ADMIN_HOST": "127.0.0.1", "ESCUCHA_HTTP_HOST": "127.0.0.1",
        "ESCUCHA_PUBLIC_API_URL": API_URL, "ESCUCHA_OPEN311_READ_URL": API_URL,
    }
    if name in HTTP:
        fixed["ESCUCHA_HTTP_PORT"] = str(HTTP[name])
    out = {}
    for k, v in compose_env.items():
        if k in fixed:
            v = fixed[k]
        else:  # a new setting naming a compose service would reach nothing here: rewrite it above
            assert not re.search(r"//(kafka|postgres|redis|api)\b|host=postgres|\bkafka\d?:\d", v), (name, k, v)
        out[k] = v
    return out


def volume_args(name, svc, secrets):
    args = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):  # long form: a key file from ../.escucha
            assert v["type"] == "bind" and v["source"].startswith("../.escucha/"), (name, v)
            src = secrets / os.path.basename(v["source"])
            args += ["-v", "%s:%s:%s" % (src, v["target"], "ro" if v.get("read_only") else "rw")]
        else:  # short form: a named volume
            vol, target = v.split(":", 1)
            assert vol == "escucha-data", (name, v)
            args += ["-v", "%s:%s" % (VOLUME, target)]
    return args


def state_of(name):
    p = podman("container", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", PREFIX + name,
               check=False)
    return p.stdout.strip()


def logs(name):
    p = podman("logs", "--tail", "60", PREFIX + name, check=False)
    return (p.stdout + p.stderr)[-4000:]


def healthy(name):
    st = state_of(name)
    if not st.startswith("running"):
        raise AssertionError("container %s is %r; its log:\n%s" % (name, st, logs(name)))
    try:
        return requests.get("http://127.0.0.1:%d/healthz" % admin_port(name), timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def containers(image, run_args, secrets, redmine):
    compose = load(COMPOSE)["services"]
    remove_all()  # a run killed before its cleanup
    podman("volume", "create", VOLUME)
    try:
        for name in ORDER:
            svc = compose[name]
            env = rewrite_env(name, env_of(svc))
            if name == "actions":  # the connector's settings an operator adds (token: a secret)
                env.update({k: v for k, v in redmine.items() if k.startswith("ESCUCHA_REDMINE_")})
            cmd = ["run", "-d", "--name", PREFIX + name, "--network=host"] + run_args
            for k, v in sorted(env.items()):
                cmd += ["-e", "%s=%s" % (k, v)]
            cmd += volume_args(name, svc, secrets) + [image] + list(svc["command"])
            podman(*cmd)
            # 60 s: prioritize applies the migrations, classify loads the 25 MB model
            wait_until(lambda: healthy(name), 60, interval=0.2, what="container %s /healthz" % name)
            if name in HTTP:
                wait_until(lambda: _port_open(HTTP[name]), 10, what="%s HTTP port" % name)
        yield compose
    finally:
        remove_all()


def test_compose_healthchecks_pass_inside(containers):
    """Each service's compose healthcheck, run in its container (curl is in the image)."""
    for name in APPS:
        hc = containers[name]["healthcheck"]["test"]
        assert hc[0] == "CMD"
        argv = [a.replace(":%s/" % env_of(containers[name])["ESCUCHA_ADMIN_PORT"], ":%d/" % admin_port(name))
                for a in hc[1:]]
        assert any(":%d/healthz" % admin_port(name) in a for a in argv), argv
        p = podman("exec", PREFIX + name, *argv, check=False)
        assert p.returncode == 0, "%s healthcheck %s: %s" % (name, argv, p.stderr)


def test_image_carries_what_the_services_read(containers):
    """The files compose's settings name exist in the image; the default model reached the
    fresh named volume; every service runs as the unprivileged user."""
    paths = {v for s in APPS for k, v in env_of(containers[s]).items()
             if v.startswith("/usr/share/escucha/") or k == "ESCUCHA_MODEL"}
    assert "/var/lib/escucha/model.bin" in paths and len(paths) >= 4, paths
    p = podman("exec", PREFIX + "classify", "sh", "-c", "ls -ld " + " ".join(sorted(paths)) + " && id -un")
    assert p.stdout.strip().endswith("escucha"), p.stdout
    web = env_of(containers["api"])["ESCUCHA_WEB_ROOT"]
    assert podman("exec", PREFIX + "api", "test", "-s", web + "/index.html", check=False).returncode == 0, web
    for name in APPS:
        assert podman("exec", PREFIX + name, "id", "-u").stdout.strip() != "0"


def metric(name, family):
    text = requests.get("http://127.0.0.1:%d/metrics" % admin_port(name), timeout=5).text
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith(family + "{") or line.startswith(family + " "))


def stored(fid):
    r = sql("SELECT category, model_version, text FROM feedback WHERE id = %s", (fid,))
    return r[0] if r else None


def test_feedback_end_to_end(containers, api_key, read_key):
    u = unique("ctr")
    ingest = "http://127.0.0.1:%d" % HTTP["ingest"]
    before = {"classify": metric("classify", "escucha_classify_classified_total"),
              "prioritize": metric("prioritize", "escucha_prioritize_rows_written_total")}
    r = post_json("/v1/feedback", {"text": "El pago del permiso en la web falla cada vez y nadie contesta " + u,
                                   "csat": 2}, api_key, port=HTTP["ingest"])
    assert r.status_code == 202, r.text
    fid, status_url = r.json()["id"], r.json()["status_url"]
    assert status_url.startswith(API_URL + "/v1/receipts/"), status_url
    # Open311: the service list is the image's taxonomy
    code = requests.get(ingest + "/open311/v2/services.json", timeout=10).json()[0]["service_code"]
    r = requests.post(ingest + "/open311/v2/requests.json", timeout=10, data={
        "api_key": api_key, "service_code": code, "description": "La luminaria de la plaza sigue apagada " + u})
    assert r.status_code == 201, r.text
    sid = r.json()[0]["service_request_id"]

    category, model_version, text = wait_until(lambda: stored(fid), 90, interval=0.3,
                                               what="feedback %s in PostgreSQL" % fid)
    assert category and model_version and u in text
    wait_until(lambda: stored(sid), 30, interval=0.3, what="Open311 request %s in PostgreSQL" % sid)
    # the containers did the work, not some other process on the stack
    assert metric("ingest", "escucha_ingest_produced_total") >= 2
    assert metric("classify", "escucha_classify_classified_total") >= before["classify"] + 2
    assert metric("prioritize", "escucha_prioritize_rows_written_total") > before["prioritize"]

    # the read side, through the containerised escucha-api
    r = requests.get("%s/v1/feedback/%s" % (API_URL, fid), headers={"Authorization": "Bearer " + read_key},
                     timeout=10)
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["id"] == fid and item["category"] == category and item["model_version"] == model_version
    r = requests.get(status_url, timeout=10)
    assert r.status_code == 200 and r.json()["status"] in ("classified", "in_action_plan", "ticket_open"), r.text
    # the dashboard from the image's web root
    r = requests.get(API_URL + "/", timeout=10)
    assert r.status_code == 200 and "<html" in r.text.lower(), r.text[:200]
    # an Open311 read: ingest forwards it to escucha-api (compose's ESCUCHA_OPEN311_READ_URL)
    r = requests.get("%s/open311/v2/requests/%s.json" % (ingest, sid), timeout=10,
                     headers={"Authorization": "Bearer " + read_key})
    assert r.status_code == 200 and r.json()[0]["service_request_id"] == sid, r.text


def test_urgent_message_becomes_a_redmine_issue(containers, redmine, api_key):
    """classify flags it (case request), escucha-actions opens the case's ticket where the
    image's taxonomy routes urgent cases: this Redmine, project escucha."""
    r = post_json("/v1/feedback", {"text": "mi vecino me amenazó con matarme, tengo miedo " + unique("ref"),
                                   "channel": "whatsapp", "language": "es"}, api_key, port=HTTP["ingest"])
    assert r.status_code == 202, r.text
    fid = r.json()["id"]

    def ticket():
        r = sql("SELECT a.tool, a.external_key, a.idempotency_key FROM actions a JOIN action_plans p ON p.id = a.plan_id"
                " WHERE p.kind = 'case' AND p.feedback_id = %s AND a.external_key IS NOT NULL", (fid,))
        return r[0] if r else None
    tool, issue_id, key = wait_until(ticket, 90, interval=0.3, what="the case ticket of %s" % fid)
    assert tool == "redmine" and issue_id
    r = requests.get("%s/issues/%s.json" % (redmine["ESCUCHA_REDMINE_BASE_URL"], issue_id), timeout=15,
                     headers={"X-Redmine-API-Key": redmine["ESCUCHA_REDMINE_TOKEN"]})
    assert r.status_code == 200, r.text
    issue = r.json()["issue"]
    assert issue["subject"].startswith("URGENTE") and key in issue["description"], issue["subject"]


def test_actions_ready(containers):
    """escucha-actions (started from the image with compose's settings) reaches its
    dependencies: /readyz answers 200 within a deadline."""
    def ready():
        healthy("actions")
        try:
            return requests.get("http://127.0.0.1:%d/readyz" % admin_port("actions"), timeout=1).status_code == 200
        except requests.RequestException:
            return False
    wait_until(ready, 60, interval=0.3, what="escucha-actions /readyz")


def test_stop_drains_and_exits_zero(containers):
    """`podman stop` (compose's `docker stop`) sends the image's STOPSIGNAL, SIGTERM: each
    service drains and exits 0 well inside compose's stop_grace_period (30 s)."""
    for name in reversed(ORDER):
        t0 = time.monotonic()
        podman("stop", "-t", "30", PREFIX + name, timeout=60)
        took = time.monotonic() - t0
        st = state_of(name)
        assert st == "exited 0", "%s stopped as %r after %.1f s; its log:\n%s" % (name, st, took, logs(name))
        assert took < 25, "%s took %.1f s to stop" % (name, took)
