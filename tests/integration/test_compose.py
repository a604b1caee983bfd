"""Static checks of deploy/docker-compose.yml (no Docker needed).

Run: /usr/bin/python3 -m pytest tests/integration/test_compose.py
The env check runs each service binary's --help (ESCUCHA_BIN_DIR, default
build/bin) and requires every ESCUCHA_* name the compose file sets to appear
there, so a renamed variable can't silently fall back to a default in Docker.
A missing binary is a failure, not a skip: build with `make bins` first.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "docker-compose.yml"
KAFKA3 = REPO / "deploy" / "docker-compose.kafka3.yml"
BIN_DIR = Path(os.environ.get("ESCUCHA_BIN_DIR") or REPO / "build" / "bin")
if not BIN_DIR.is_absolute():
    BIN_DIR = REPO / BIN_DIR
INFRA = ["kafka", "postgres", "redis"]
APPS = ["ingest", "classify", "prioritize", "actions", "api"]
ADMIN_PORT = {"ingest": 9101, "classify": 9102, "prioritize": 9103, "actions": 9104, "api": 9105}
# env each service must get (beyond the common ones), per the design
EXTRA_ENV = {
    "ingest": {"ESCUCHA_HTTP_PORT", "ESCUCHA_API_KEYS_FILE", "ESCUCHA_RECEIPT_SECRET_FILE", "ESCUCHA_OPEN311_READ_URL"},
    "classify": {"ESCUCHA_MODEL", "ESCUCHA_TAXONOMY"},
    # the three taxonomy readers refuse a missing file (lib/taxonomy)
    "prioritize": {"ESCUCHA_MIGRATIONS_DIR", "ESCUCHA_TAXONOMY"},
    "actions": {"ESCUCHA_TAXONOMY"},
    "api": {"ESCUCHA_HTTP_PORT", "ESCUCHA_API_KEYS_FILE", "ESCUCHA_API_PG_DSN", "ESCUCHA_RECEIPT_SECRET_FILE",
            "ESCUCHA_WEB_ROOT", "ESCUCHA_TAXONOMY"},
}
COMMON_ENV = {"ESCUCHA_KAFKA_BROKERS", "ESCUCHA_PG_DSN", "ESCUCHA_REDIS_URL",
              "ESCUCHA_ADMIN_PORT"}
ENV_NAME = re.compile(r"\bESCUCHA_[A-Z0-9_]+\b")


# compose's interpolation: $$ is a literal $; ${VAR:-default} / ${VAR-default} / ${VAR} / $VAR
INTERP = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(node, env):
    """The document as compose sees it with the variables in env (missing: unset)."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def one(m):
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(5)
        val = env.get(name)
        if m.group(3) == ":-" and not val or m.group(3) == "-" and val is None:
            return m.group(4)
        assert val is not None, "%s is used without a default" % name
        return val
    return INTERP.sub(one, node)


def load(path, env=None):
    with open(path) as f:
        doc = yaml.safe_load(f)  # resolves the x-* anchors and << merges
    return interpolate(doc, env or {})


@pytest.fixture(scope="module")
def compose():
    doc = load(COMPOSE)
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


def env_of(svc):
    """environment as a dict; compose allows a mapping or a KEY=VAL list."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def depends_of(svc):
    dep = svc.get("depends_on") or {}
    if isinstance(dep, list):  # short form means service_started
        return {d: "service_started" for d in dep}
    return {k: (v or {}).get("condition", "service_started") for k, v in dep.items()}


def test_services_exist(compose):
    for name in INFRA + APPS:
        assert name in compose["services"], f"service {name} missing"


def test_infra_images(compose):
    s = compose["services"]
    # 3.9.1, not 4.x: librdkafka 2.0.2 probes protocol versions 4.0 removed
    assert s["kafka"]["image"] == "apache/kafka:3.9.1"
    assert s["postgres"]["image"].split(":")[0] == "postgres"
    assert s["postgres"]["image"].split(":")[1].startswith("15")
    assert s["redis"]["image"].split(":")[0] == "redis"
    assert s["redis"]["image"].split(":")[1].startswith("7")


IMAGE_VARS = {"ESCUCHA_IMAGE": "localhost/escucha:test", "KAFKA_IMAGE": "localhost/kafka:test",
              "POSTGRES_IMAGE": "localhost/postgres:test", "REDIS_IMAGE": "localhost/redis:test"}


def test_image_names_overridable():
    """Every image is `${VAR:-official}`: unset, the official images (test_infra_images); set,
    locally built equivalents or a mirror (tests/integration/test_containers.py builds one)."""
    for path in (COMPOSE, KAFKA3):
        raw = yaml.safe_load(open(path))["services"]
        for name, svc in raw.items():
            if "image" in svc:
                assert re.fullmatch(r"\$\{[A-Z_]+_IMAGE:-[^}]+\}", svc["image"]), (path.name, name, svc["image"])
        over = load(path, IMAGE_VARS)["services"]
        for name, svc in over.items():
            if "image" in svc:
                assert svc["image"] in IMAGE_VARS.values(), (path.name, name, svc["image"])
    over = load(COMPOSE, IMAGE_VARS)["services"]
    assert {over[a]["image"] for a in APPS} == {IMAGE_VARS["ESCUCHA_IMAGE"]}
    assert over["kafka"]["image"] == over["kafka-topics"]["image"] == IMAGE_VARS["KAFKA_IMAGE"]
    assert over["postgres"]["image"] == IMAGE_VARS["POSTGRES_IMAGE"]
    assert over["redis"]["image"] == IMAGE_VARS["REDIS_IMAGE"]


def test_kafka_is_kraft_with_internal_listener(compose):
    env = env_of(compose["services"]["kafka"])
    assert "broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"]
    assert env.get("CLUSTER_ID")
    assert "kafka:19092" in env["KAFKA_ADVERTISED_LISTENERS"]


@pytest.mark.parametrize("name", INFRA)
def test_infra_healthchecks(compose, name):
    hc = compose["services"][name].get("healthcheck")
    assert hc and hc.get("test"), f"{name} has no healthcheck"
    assert not hc.get("disable")


@pytest.mark.parametrize("name", APPS)
def test_app_image_and_command(compose, name):
    svc = compose["services"][name]
    build = svc.get("build")
    assert build, f"{name} has no build"
    if isinstance(build, str):
        build = {"context": build}
    context = (COMPOSE.parent / build.get("context", ".")).resolve()
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
    assert (context / "Makefile").is_file(), f"{name}: build context {context} is not the repo"
    # one image for all five services
    images = {compose["services"][a].get("image") for a in APPS}
    assert len(images) == 1 and None not in images
    cmd = svc.get("command")
    argv0 = cmd[0] if isinstance(cmd, list) else str(cmd).split()[0]
    assert argv0 == f"escucha-{name}"


@pytest.mark.parametrize("name", APPS)
def test_app_depends_on_healthy_infra(compose, name):
    deps = depends_of(compose["services"][name])
    for infra in INFRA:
        assert deps.get(infra) == "service_healthy", f"{name} -> {infra}: {deps.get(infra)}"
    for dep, cond in deps.items():
        assert dep in compose["services"], f"{name} depends on unknown {dep}"
        assert cond in ("service_healthy", "service_completed_successfully"), (name, dep, cond)
        if cond == "service_healthy":
            assert compose["services"][dep].get("healthcheck"), f"{dep} needs a healthcheck"


@pytest.mark.parametrize("name", APPS)
def test_app_healthcheck_and_ports(compose, name):
    svc = compose["services"][name]
    port = ADMIN_PORT[name]
    assert env_of(svc).get("ESCUCHA_ADMIN_PORT") == str(port)
    hc = svc.get("healthcheck") or {}
    test = hc.get("test")
    text = " ".join(test) if isinstance(test, list) else str(test)
    assert f":{port}/healthz" in text, f"{name} healthcheck: {text}"
    published = [str(p) for p in svc.get("ports", [])]
    assert any(p.endswith(f":{port}") for p in published), f"{name} admin port not published"
    if name in ("ingest", "api"):
        http = env_of(svc)["ESCUCHA_HTTP_PORT"]
        assert any(p.endswith(f":{http}") for p in published), f"{name} HTTP port not published"


@pytest.mark.parametrize("name", APPS)
def test_app_env_complete(compose, name):
    env = env_of(compose["services"][name])
    missing = (COMMON_ENV | EXTRA_ENV[name]) - set(env)
    assert not missing, f"{name} lacks {sorted(missing)}"
    assert env["ESCUCHA_KAFKA_BROKERS"] == "kafka:19092"


def help_env_names(name):
    binary = BIN_DIR / f"escucha-{name}"
    assert binary.is_file() and os.access(binary, os.X_OK), \
        f"{binary} missing: build it (make bins) or set ESCUCHA_BIN_DIR"
    r = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{binary} --help exited {r.returncode}: {r.stderr[-500:]}"
    names = set(ENV_NAME.findall(r.stdout + r.stderr))
    assert names, f"{binary} --help lists no ESCUCHA_* variables"
    return names


@pytest.mark.parametrize("name", APPS)
def test_env_names_are_read_by_binary(compose, name):
    set_in_compose = {k for k in env_of(compose["services"][name]) if k.startswith("ESCUCHA_")}
    unknown = set_in_compose - help_env_names(name)
    assert not unknown, f"escucha-{name} --help does not list {sorted(unknown)}"


def test_api_reads_as_its_own_role(compose):
    """escucha-api connects as escucha_api (SELECT + audit rows), never as the owner."""
    env = env_of(compose["services"]["api"])
    assert "user=escucha_api" in env["ESCUCHA_API_PG_DSN"]
    assert env["ESCUCHA_HTTP_PORT"] == "8081"
    assert depends_of(compose["services"]["api"]).get("prioritize") == "service_healthy"
    # ingest forwards Open311 GETs to the api service and both check receipts with one secret
    ing = env_of(compose["services"]["ingest"])
    assert ing["ESCUCHA_OPEN311_READ_URL"] == "http://api:%s" % env["ESCUCHA_HTTP_PORT"]
    assert ing["ESCUCHA_RECEIPT_SECRET_FILE"] == env["ESCUCHA_RECEIPT_SECRET_FILE"]


# ---- deploy/docker-compose.kafka3.yml: the 3-node Kafka cluster laid over the base file ----
KNODES = ["kafka", "kafka2", "kafka3"]


def merged(base, over):
    """compose's merge of -f files for what is checked here: mappings merge key by key,
    anything else (command, lists) is replaced by the later file's."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merged(base[k], v) if k in base else v
        return out
    return over


@pytest.fixture(scope="module")
def compose3(compose):
    over = load(KAFKA3)
    assert set(over["services"]) <= set(compose["services"]) | {"kafka2", "kafka3"}, "override names unknown services"
    return merged(compose, over)


def test_kafka3_nodes_form_one_quorum(compose3):
    s = compose3["services"]
    envs = [env_of(s[n]) for n in KNODES]
    assert [e["KAFKA_NODE_ID"] for e in envs] == ["1", "2", "3"]
    for n, e in zip(KNODES, envs):
        assert s[n]["image"] == "apache/kafka:3.9.1"
        assert e["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:29093,2@kafka2:29093,3@kafka3:29093"
        assert e["CLUSTER_ID"] == envs[0]["CLUSTER_ID"]
        assert "broker" in e["KAFKA_PROCESS_ROLES"] and "controller" in e["KAFKA_PROCESS_ROLES"]
        assert f"INTERNAL://{n}:19092" in e["KAFKA_ADVERTISED_LISTENERS"]
        # replicated like the local cluster (scripts/stack.sh, ESCUCHA_KAFKA_BROKER_COUNT=3)
        assert e["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" and e["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert e["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert e["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert e["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        hc = " ".join(s[n]["healthcheck"]["test"])
        assert f"{n}:19092" in hc, f"{n} healthcheck probes another node: {hc}"
        assert any(v.endswith(":/var/lib/kafka/data") for v in s[n]["volumes"])
    # one data volume per node, each declared
    vols = {s[n]["volumes"][0].split(":")[0] for n in KNODES}
    assert len(vols) == 3 and vols <= set(compose3["volumes"])
    ext = [e["KAFKA_ADVERTISED_LISTENERS"].split("EXTERNAL://")[1] for e in envs]
    assert len(set(ext)) == 3


def test_kafka3_topics_replicated(compose3):
    s = compose3["services"]["kafka-topics"]
    cmd = " ".join(s["command"])
    assert "--replication-factor 3" in cmd and "--config min.insync.replicas=2" in cmd
    assert "kafka:19092,kafka2:19092,kafka3:19092" in cmd
    deps = depends_of(s)
    assert all(deps.get(n) == "service_healthy" for n in KNODES), deps
    # the same topics as the base file creates
    base_cmd = " ".join(load(COMPOSE)["services"]["kafka-topics"]["command"])
    assert sorted(re.findall(r"escucha\.[a-z.]+v1", cmd)) == sorted(re.findall(r"escucha\.[a-z.]+v1", base_cmd))


@pytest.mark.parametrize("name", APPS)
def test_kafka3_apps_only_get_the_bootstrap_list(compose, compose3, name):
    env3, env1 = env_of(compose3["services"][name]), env_of(compose["services"][name])
    assert env3["ESCUCHA_KAFKA_BROKERS"] == "kafka:19092,kafka2:19092,kafka3:19092"
    assert {k: v for k, v in env3.items() if k != "ESCUCHA_KAFKA_BROKERS"} == \
        {k: v for k, v in env1.items() if k != "ESCUCHA_KAFKA_BROKERS"}
    deps = depends_of(compose3["services"][name])
    assert all(deps.get(n) == "service_healthy" for n in KNODES), deps
