"""What an SRE relies on, checked against the real stack and a real Prometheus:

- the alert rules load and pass their promtool unit tests, the scrape configs load;
- every service's /metrics passes `promtool check metrics` and carries the standard
  process_* families and escucha_build_info;
- every metric the Grafana dashboard queries is one the services really export;
- Debian's prometheus scrapes the running services, has lag and process samples, and the
  lag alert's expression fires once classify is stopped while feedback keeps arriving."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest
import requests

from conftest import ADMIN, ADMIN_BASE, API_HTTP_PORT, REPO, STATE, producer, unique, wait_until

SERVICES = ["ingest", "classify", "prioritize", "actions", "api"]
PROMQL_FUNCS = {"sum", "rate", "increase", "delta", "histogram_quantile", "avg", "max", "min", "time",
                "by", "without", "and", "or", "unless", "on", "ignoring", "le", "timestamp"}
IN = "escucha.feedback.ingested.v1"


def admin_port(name):
    return ADMIN_BASE + ADMIN[name]


def metric_families(text):
    """{family: type} from the exposition text's TYPE lines."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def expr_metrics(expr):
    """Metric names an expression selects (identifiers that are not functions, labels or keywords)."""
    expr = re.sub(r'\{[^}]*\}', "", expr)          # label matchers
    expr = re.sub(r'\[[^\]]*\]', "", expr)         # ranges
    expr = re.sub(r'\b(by|without)\s*\([^)]*\)', "", expr)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr))
    return {n for n in names if n not in PROMQL_FUNCS and not re.fullmatch(r"\d.*|e\d+", n)}


@pytest.fixture(scope="module")
def stack_services(request):
    """The five services (classify with a group of its own, known to api's lag probe)."""
    from conftest import Service
    from test_classify_workers import start_group_at_end
    group, pz_group = unique("obs"), unique("obs-pz")
    start_group_at_end(group, IN)  # only what this test produces
    start_group_at_end(pz_group, "escucha.feedback.classified.v1")
    started = {}
    try:
        started["ingest"] = Service("ingest", http_port=int(os.environ.get("ESCUCHA_HTTP_PORT", "8080")))
        started["classify"] = Service("classify", env={"ESCUCHA_GROUP": group, "ESCUCHA_TRANSACTIONAL_ID": group,
                                                       "ESCUCHA_CORRECTIONS_TOPIC": ""})
        started["prioritize"] = Service("prioritize", env={"ESCUCHA_GROUP": pz_group})
        started["actions"] = Service("actions")
        started["api"] = Service("api", http_port=API_HTTP_PORT, env={"ESCUCHA_LAG_GROUPS": group + "," + pz_group,
                                             "ESCUCHA_LAG_INTERVAL_MS": "500"})
        yield group, started
    finally:
        for s in reversed(list(started.values())):
            if s.proc and s.proc.poll() is None:
                s.stop()


def test_alert_rules_and_configs_load():
    for args in (["check", "rules", "deploy/prometheus/alerts.yml"],
                 ["test", "rules", "tests/prometheus/alerts_test.yml"],
                 ["check", "config", "deploy/prometheus/prometheus.yml", "deploy/prometheus/prometheus-compose.yml"]):
        r = subprocess.run(["promtool"] + args, cwd=REPO, capture_output=True, text=True)
        assert r.returncode == 0, "promtool %s:\n%s%s" % (" ".join(args), r.stdout, r.stderr)


def test_every_alert_has_a_runbook_section():
    import yaml
    with open(os.path.join(REPO, "deploy/prometheus/alerts.yml")) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    with open(os.path.join(REPO, "docs/runbook.md")) as f:
        anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                   for h in re.findall(r"^## (.+)$", f.read(), re.M)}
    assert len(rules) >= 8
    for r in rules:
        url = r["annotations"]["runbook_url"]
        assert url.startswith("docs/runbook.md#"), url
        assert url.split("#", 1)[1] in anchors, "%s: no section %s in docs/runbook.md" % (r["alert"], url)


def test_metrics_pass_promtool_and_carry_process_and_build_info(stack_services):
    _, svc = stack_services
    for name in SERVICES:
        text = requests.get("http://127.0.0.1:%d/metrics" % admin_port(name), timeout=5).text
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        # promtool lints (e.g. a counter's name) print but exit 0; a malformed exposition exits non-zero
        assert r.returncode == 0, "%s /metrics: %s%s" % (name, r.stdout, r.stderr)
        fams = metric_families(text)
        for fam, typ in (("process_cpu_seconds_total", "counter"), ("process_resident_memory_bytes", "gauge"),
                         ("process_open_fds", "gauge"), ("process_max_fds", "gauge"),
                         ("process_start_time_seconds", "gauge"), ("escucha_build_info", "gauge"),
                         ("escucha_ready", "gauge"), ("escucha_state_disk_free_bytes", "gauge")):
            assert fams.get(fam) == typ, "%s lacks %s %s" % (name, typ, fam)
        m = re.search(r'^escucha_build_info\{service="([^"]+)",version="([^"]+)",commit="([^"]+)"\} 1$', text, re.M)
        assert m and m.group(1) == name and m.group(3) != "", "%s build_info: %s" % (name, m and m.group(0))
        rss = float(re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M).group(1))
        assert rss > 1e6, "%s RSS %s" % (name, rss)
        if name in ("classify", "prioritize", "actions", "ingest"):  # consumers report their own lag
            assert "escucha_kafka_consumer_lag" in fams, name


def test_dashboard_queries_only_exported_metrics(stack_services):
    exported = {"up"}  # Prometheus' own
    for name in SERVICES:
        text = requests.get("http://127.0.0.1:%d/metrics" % admin_port(name), timeout=5).text
        for fam, typ in metric_families(text).items():
            exported.add(fam)
            if typ == "histogram":
                exported.update({fam + "_bucket", fam + "_sum", fam + "_count"})
    with open(os.path.join(REPO, "deploy/grafana/escucha.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    used = set()
    for e in exprs:
        used |= expr_metrics(e)
    missing = sorted(used - exported)
    assert not missing, "the dashboard queries metrics no service exports: %s" % missing
    # and the alert rules too
    import yaml
    with open(os.path.join(REPO, "deploy/prometheus/alerts.yml")) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    missing = sorted(set().union(*(expr_metrics(r["expr"]) for r in rules)) - exported)
    assert not missing, "alert rules use metrics no service exports: %s" % missing


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def prometheus(stack_services):
    d = tempfile.mkdtemp(prefix="prom-", dir=STATE)
    shutil.copy(os.path.join(REPO, "deploy/prometheus/alerts.yml"), d)
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - alerts.yml\n"
                "scrape_configs:\n")
        for name in SERVICES:
            f.write("  - job_name: escucha-%s\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                    % (name, admin_port(name)))
    port = free_port()
    log = open(os.path.join(d, "prometheus.log"), "wb")
    proc = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(d, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(d, "data"),
                             "--web.listen-address=127.0.0.1:%d" % port], stdout=log, stderr=log)
    base = "http://127.0.0.1:%d" % port

    def ready():
        assert proc.poll() is None, "prometheus exited; see %s" % d
        try:
            return requests.get(base + "/-/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False
    wait_until(ready, 60, interval=0.2, what="prometheus /-/ready")
    yield base
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    log.close()
    shutil.rmtree(d, ignore_errors=True)


def query(base, expr):
    r = requests.get(base + "/api/v1/query", params={"query": expr}, timeout=5).json()
    assert r["status"] == "success", r
    return r["data"]["result"]


def test_real_prometheus_scrapes_and_lag_alert_fires_when_classify_stops(stack_services, prometheus):
    group, svc = stack_services
    wait_until(lambda: len(query(prometheus, 'up{job=~"escucha-.*"} == 1')) == len(SERVICES), 30,
               interval=0.5, what="every service scraped")
    for expr in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                 "escucha_build_info"):
        wait_until(lambda: len(query(prometheus, expr)) >= len(SERVICES), 20, interval=0.5, what=expr)
    # the probe sees the group once classify has joined and committed
    wait_until(lambda: query(prometheus, 'escucha_kafka_group_lag{group="%s"}' % group), 60, interval=0.5,
               what="lag samples for %s" % group)
    alert = None
    with open(os.path.join(REPO, "deploy/prometheus/alerts.yml")) as f:
        import yaml
        for g in yaml.safe_load(f)["groups"]:
            for r in g["rules"]:
                if r["alert"] == "EscuchaConsumerLagGrowing":
                    alert = r["expr"]
    assert alert
    mine = '(%s) and on (group) label_replace(vector(1), "group", "%s", "", "")' % (alert.strip(), group)
    assert query(prometheus, mine) == [], "lag alert fired while classify was running"

    assert svc["classify"].stop() == 0
    p = producer()
    sent = 0

    def fired():
        nonlocal sent
        for _ in range(50):  # keeps arriving while nobody reads
            p.produce(IN, key=b"obs-%d" % sent, value=b"not read by anyone")
            sent += 1
        p.flush(10)
        return query(prometheus, mine)
    res = wait_until(fired, 90, interval=0.5, what="the lag alert's expression for %s" % group)
    assert res and float(res[0]["value"][1]) > 100
