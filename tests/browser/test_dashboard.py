"""The operator dashboard in a real browser (Debian's chromium + chromium-driver, driven by
Debian's python3-selenium) against the real stack: ingest, classify, prioritize, actions (with
a real Redmine, scripts/redmine.sh) and escucha-api, all started here from ESCUCHA_BIN_DIR.

A slice of the bundled NHS sample (data/sample) goes in through ingest's HTTP batch intake,
as `make demo` sends it, for an agency of its own; once priorities are ranked and an action
plan has its Redmine ticket, escucha-api serves the dashboard and the browser signs in with
the agency's key. For every page, in Spanish and in English: the expected content is there
(the top priority's name as GET /v1/priorities returns it, the plan's ticket link as GET
/v1/action-plans returns it, ...), the browser console has no error, and axe-core
(tests/browser/vendor, injected through WebDriver) finds no serious or critical violation.
A correction made with the review queue's keyboard shortcuts reaches escucha.corrections.v1.
Screenshots of every page go to $ESCUCHA_TEST_OUTPUT/browser (default .escucha/test-output/browser).

No sleeps: every wait is a WebDriverWait or wait_until with a deadline."""
import hashlib
import json
import os
import subprocess
import sys
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "contract"))
import conftest as it  # noqa: E402  (the integration tests' helpers; already loaded when run together)
import actions_it  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service as ChromeService  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

REPO = it.REPO
API_PORT = it.API_PORT               # escucha-api's test port (conftest)
API_ADMIN = it.ADMIN_BASE + it.ADMIN["api"]
BASE = "http://127.0.0.1:%d" % API_PORT
OUT = os.path.join(os.environ.get("ESCUCHA_TEST_OUTPUT", os.path.join(REPO, ".escucha", "test-output")), "browser")
SAMPLE = os.path.join(REPO, "data", "sample", "feedback.ndjson")
N_SAMPLE = 600                        # enough for several topics over min-volume and one plan
WINDOW, LEVEL = "day", "1"            # what the priorities page shows first
AXE = os.path.join(HERE, "vendor", "axe.min.js")
WAIT = 20


def sql(q, args=()):
    import psycopg2
    with psycopg2.connect(it.PG_DSN) as db, db.cursor() as cur:
        cur.execute(q, args)
        return cur.fetchall()


# ---------------------------------------------------------------- the stack
@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    was_running = subprocess.run([os.path.join(REPO, "scripts", "redmine.sh"), "status"],
                                 capture_output=True).returncode == 0
    p = subprocess.run([os.path.join(REPO, "scripts", "redmine.sh"), "start"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "scripts/redmine.sh start failed:\n%s" % p.stderr[-3000:]
    redmine = dict(line.split("=", 1) for line in p.stdout.split() if "=" in line)

    agency = "web" + uuid.uuid4().hex[:8]
    key = "k-" + uuid.uuid4().hex
    keys = tmp / "api-keys"
    # the legacy line (submit+read+review): ingest reads it, and so does escucha-api (lib/keys)
    keys.write_text("%s:%s\n" % (agency, hashlib.sha256(key.encode()).hexdigest()))
    taxonomy = actions_it.taxonomy_routed(str(tmp / "taxonomy.json"), {"tool": "redmine"})
    common = {"ESCUCHA_API_KEYS_FILE": str(keys), "ESCUCHA_TAXONOMY": taxonomy}
    tag = uuid.uuid4().hex[:6]
    started = []

    def start(name, **kw):
        s = it.Service(name, **kw)
        started.append(s)
        return s
    try:
        start("ingest", http_port=it.HTTP_PORT, env=dict(common, ESCUCHA_RATE_LIMIT="0"))
        start("classify", env=common)
        # as `make demo` (scripts/demo.sh): a sample arriving all at once has no baseline to
        # spike against, so plans open from a score of 0.10 (hour window, category level)
        ranker = start("prioritize", env=dict(common, ESCUCHA_GROUP="pz-web-" + tag, ESCUCHA_BATCH_MS="100",
                                              ESCUCHA_OPEN_THRESHOLD="0.10", ESCUCHA_CLOSE_THRESHOLD="0.05",
                                              ESCUCHA_ACTION_WINDOW="hour"))
        env = {k: v for k, v in redmine.items() if k.startswith("ESCUCHA_")}
        env.update(common, ESCUCHA_GROUP="ac-web-" + tag, ESCUCHA_DEFAULT_TOOL="redmine", ESCUCHA_POLL_INTERVAL_S="1",
                   ESCUCHA_RETRY_BASE_MS="50")
        start("actions", env=env)

        sent = send_sample(key)
        it.wait_until(lambda: sql("SELECT count(*) FROM feedback WHERE agency = %s", (agency,))[0][0] >= sent, 240,
                      interval=0.5, what="%d sample items classified and stored" % sent)
        it.wait_until(lambda: sql("SELECT count(*) FROM priorities WHERE agency = %s AND window_kind = %s",
                                  (agency, WINDOW))[0][0], 120, interval=0.5, what="priorities ranked")
        it.wait_until(lambda: sql("""SELECT count(*) FROM actions a JOIN action_plans p ON p.id = a.plan_id
                                     WHERE p.agency = %s AND a.url IS NOT NULL AND a.url <> ''""", (agency,))[0][0],
                      180, interval=0.5, what="an action plan with its Redmine ticket")
        # the sample's plans are open; the ranker stops before the stale plan is planted, or its next
        # ranking closes that plan (its topic has no feedback, so no score keeps it open)
        ranker.stop()
        case = plant_case(agency)
        plant_stale_plan(agency)
        start("api", http_port=API_PORT, admin_port=API_ADMIN, env=common)
        yield {"agency": agency, "key": key, "redmine": redmine, "case": case}
    finally:
        for s in reversed(started):
            if s.proc and s.proc.poll() is None:
                s.stop()
        if not was_running:
            subprocess.run([os.path.join(REPO, "scripts", "redmine.sh"), "stop"], capture_output=True, timeout=60)


CASE_TEXT = "Mi expareja me amenazó con matarme si vuelvo a la casa."


def plant_case(agency):
    """An urgent WhatsApp item and its case (an action_plans row of kind 'case' with its ticket, as
    escucha-actions writes them), straight into PostgreSQL: the dashboard is tested without depending
    on the case path's own code. Returns the case's id and its item's id."""
    import psycopg2
    fid = "01JURGENT" + uuid.uuid4().hex[:17].upper()
    cid = "01JCASE" + uuid.uuid4().hex[:19].upper()
    with psycopg2.connect(it.PG_DSN) as db, db.cursor() as cur:
        cur.execute("INSERT INTO feedback (id, agency, service, channel, text, language, received_at, category,"
                    " subcategory, confidence, sentiment, urgent, urgent_reason, urgent_confidence, classified_at)"
                    " VALUES (%s, %s, 'safety', 'WHATSAPP', %s, 'es', now() - interval '20 minutes', 'safety',"
                    " 'safety/violence_threats', 0.9, 'NEGATIVE', true, 'amenaza: me amenazó con matarme', 0.97,"
                    " now() - interval '20 minutes')", (fid, agency, CASE_TEXT))
        cur.execute("INSERT INTO action_plans (id, agency, topic, status, opened_at, kind, feedback_id)"
                    " VALUES (%s, %s, %s, 'open', now() - interval '19 minutes', 'case', %s)",
                    (cid, agency, "case/" + fid, fid))
        cur.execute("INSERT INTO actions (plan_id, tool, external_key, url, status, idempotency_key)"
                    " VALUES (%s, 'redmine', '9001', 'http://127.0.0.1:3000/issues/9001', 'open', %s)",
                    (cid, "case-" + cid))
    return {"id": cid, "feedback_id": fid}


def plant_stale_plan(agency):
    """An open plan whose ticket last moved 18 days ago (the API's --stale-after is 14): its card on
    the plans page carries the "no movement" badge."""
    import psycopg2
    pid = "01JSTALE" + uuid.uuid4().hex[:18].upper()
    with psycopg2.connect(it.PG_DSN) as db, db.cursor() as cur:
        cur.execute("INSERT INTO action_plans (id, agency, topic, status, opened_at, summary) VALUES"
                    " (%s, %s, 'facilities/stale_check', 'open', now() - interval '30 days', 'Plan sin movimiento')",
                    (pid, agency))
        cur.execute("INSERT INTO actions (plan_id, tool, external_key, url, status, idempotency_key, opened_at,"
                    " updated_at) VALUES (%s, 'redmine', '9002', 'http://127.0.0.1:3000/issues/9002', 'in_progress',"
                    " %s, now() - interval '30 days', now() - interval '18 days')", (pid, "stale-" + pid))
    return pid


def send_sample(key):
    """The first N_SAMPLE items of the demo sample through ingest's NDJSON batch intake, as the
    demo sends its HTTP half. Returns how many were accepted."""
    items = []
    with open(SAMPLE, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                d.pop("agency", None)  # the key's agency
                items.append(d)
            if len(items) >= N_SAMPLE:
                break
    accepted = 0
    for i in range(0, len(items), 100):
        body = "\n".join(json.dumps(x, ensure_ascii=False) for x in items[i:i + 100]).encode()
        r = requests.post("http://127.0.0.1:%d/v1/feedback:batch" % it.HTTP_PORT, data=body, timeout=30,
                          headers={"Authorization": "Bearer " + key, "Content-Type": "application/x-ndjson"})
        assert r.status_code in (200, 202), r.text[:500]
        accepted += r.json()["accepted"]
    assert accepted > N_SAMPLE // 2, "ingest accepted only %d of %d" % (accepted, len(items))
    return accepted


def get(stack, path):
    r = requests.get(BASE + path, headers={"Authorization": "Bearer " + stack["key"]}, timeout=15)
    assert r.status_code == 200, "%s -> %d %s" % (path, r.status_code, r.text[:300])
    return r.json()


# ---------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser():
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
              "--disable-extensions", "--no-first-run", "--disable-background-networking"):
        o.add_argument(a)
    o.binary_location = "/usr/bin/chromium"
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=ChromeService("/usr/bin/chromedriver"), options=o)
    d.set_script_timeout(60)
    os.makedirs(OUT, exist_ok=True)
    yield d
    d.quit()


def console_errors(d):
    """Errors logged in the browser console since the last call (JavaScript errors, CSP
    violations, failed requests)."""
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def axe_violations(d):
    """axe-core on the current page: the serious and critical violations."""
    if not d.execute_script("return !!window.axe"):
        with open(AXE, encoding="utf-8") as f:
            d.execute_script(f.read())
    res = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
        " help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))).catch(e => done([{id: 'axe-error',"
        " impact: 'critical', help: String(e), nodes: []}]));")
    return [v for v in res if v["impact"] in ("serious", "critical")]


def screenshot(d, name):
    """A full-page screenshot (the window grown to the page's height)."""
    h = d.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    d.set_window_size(1280, min(max(1000, h + 40), 8000))
    d.save_screenshot(os.path.join(OUT, name + ".png"))
    d.set_window_size(1280, 1000)


def page_state(d):
    """What the page shows and logs, for a failure message (and a screenshot of it)."""
    try:
        d.save_screenshot(os.path.join(OUT, "failure.png"))
        return "url %s\nmain: %s\nconsole: %s" % (d.current_url, d.find_element(By.TAG_NAME, "main").text[:1500],
                                                  d.get_log("browser"))
    except Exception as e:  # noqa: BLE001  (diagnostics only)
        return "(page state unavailable: %s)" % e


def wait_css(d, css, timeout=WAIT):
    try:
        return WebDriverWait(d, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))
    except TimeoutException:
        raise AssertionError("no %s after %ds\n%s" % (css, timeout, page_state(d))) from None


def wait_text(d, css, timeout=WAIT):
    """The first element matching css once it has some text."""
    def f(_):
        try:
            e = d.find_elements(By.CSS_SELECTOR, css)
            return e[0] if e and e[0].text.strip() else False
        except StaleElementReferenceException:
            return False
    return WebDriverWait(d, timeout).until(f)


def check_page(d, name, lang):
    """Every page: the document's language, no console error, no serious axe violation, a screenshot."""
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
    wait_css(d, "#page-title")
    assert not d.find_elements(By.CSS_SELECTOR, "main .error"), d.find_element(By.CSS_SELECTOR, "main .error").text
    screenshot(d, "%s-%s" % (name, lang))
    errs = console_errors(d)
    assert not errs, "console errors on %s (%s): %s" % (name, lang, errs)
    bad = axe_violations(d)
    assert not bad, "axe-core on %s (%s): %s" % (name, lang, json.dumps(bad, indent=1))


def go(d, route):
    d.get(BASE + "/#/" + route)


def taxonomy_label(topic, lang):
    tx = json.load(open(os.path.join(REPO, "config", "taxonomy.default.json"), encoding="utf-8"))
    for c in tx["categories"]:
        for x in [c] + c.get("subcategories", []):
            if x["id"] == topic:
                return x["labels"][lang]
    return topic


# ---------------------------------------------------------------- tests
def test_taxonomy_comes_from_the_api(stack):
    """The dashboard's labels (filters, corrections) are GET /v1/taxonomy's, the file escucha-api
    loads: no bundled copy to drift."""
    assert not os.path.exists(os.path.join(REPO, "services", "api", "web", "taxonomy.json"))
    assert requests.get(BASE + "/taxonomy.json", timeout=10).status_code == 404
    cfg = json.load(open(os.path.join(REPO, "config", "taxonomy.default.json"), encoding="utf-8"))
    want = [(c["id"], c["labels"]["es"], c["labels"]["en"], [s["id"] for s in c.get("subcategories", [])])
            for c in cfg["categories"]]
    got = [(c["id"], c["labels"]["es"], c["labels"]["en"], [s["id"] for s in c["subcategories"]])
           for c in get(stack, "/v1/taxonomy")["categories"]]
    assert got == want


def test_served_with_csp(stack):
    r = requests.get(BASE + "/", timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers.get("Content-Type", "")
    csp = r.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp and "default-src 'self'" in csp, csp
    for f in ("app.js", "i18n.js", "charts.js", "style.css"):
        assert requests.get(BASE + "/" + f, timeout=10).status_code == 200, f


def test_sign_in_and_every_page(stack, browser):
    d = browser
    d.get(BASE + "/")
    d.execute_script("localStorage.clear()")
    d.get(BASE + "/")
    wait_css(d, "#key")
    check_page(d, "signin", "es")
    # a wrong key is refused in plain language
    d.find_element(By.ID, "key").send_keys("not-a-key")
    d.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    wait_text(d, "#signin-msg")
    d.get_log("browser")  # the refused POST /v1/session (401) is logged by Chromium on purpose; drop it
    box = d.find_element(By.ID, "key")
    box.clear()
    box.send_keys(stack["key"])
    d.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    wait_css(d, "#priorities")
    assert stack["agency"] in d.find_element(By.ID, "who").text

    prio = get(stack, "/v1/priorities?window=%s&level=%s" % (WINDOW, LEVEL))
    plans = get(stack, "/v1/action-plans")
    with_ticket = [p for p in plans["items"] if any(t.get("url") for t in p.get("tickets", []))]
    assert prio["items"] and with_ticket, (prio, plans)
    top = prio["items"][0]
    plan = with_ticket[0]
    ticket = [t for t in plan["tickets"] if t.get("url")][0]
    health = get(stack, "/v1/health")
    feed = get(stack, "/v1/feedback?limit=25")
    queue = get(stack, "/v1/review-queue?limit=50")

    for lang in ("es", "en"):
        def name(x):
            """A topic's name as the API gives it (label_es/label_en), else the taxonomy's label."""
            return x.get("label_" + lang) or x.get("label_es") or taxonomy_label(x["topic"], lang)
        # priorities: the top one's name, its explanation and a sparkline
        go(d, "priorities")
        first = wait_css(d, "#priorities > li")
        assert first.find_element(By.CSS_SELECTOR, ".topic-name").text == name(top)
        expl = top.get("explanation_" + lang)
        if expl:
            assert first.find_element(By.CSS_SELECTOR, ".explanation").text == " ".join(expl.split())
        if top.get("trend"):
            assert first.find_elements(By.CSS_SELECTOR, "svg.spark-svg polyline")
        plan_links = d.find_elements(By.CSS_SELECTOR, "#priorities a.plan-link")
        check_page(d, "priorities", lang)

        # action plans: the plan's ticket link
        go(d, "plans")
        wait_css(d, "#plans")
        hrefs = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "#plans a.ticket-link")]
        assert ticket["url"] in hrefs, (ticket, hrefs)
        assert name(plan) in d.find_element(By.ID, "plans").text
        # the reminder: only the plan whose ticket has not moved for 18 days carries the badge
        badges = d.find_elements(By.CSS_SELECTOR, "#plans .badge.stale")
        assert [b.text for b in badges] == [{"es": "Sin movimiento desde hace 18 días",
                                             "en": "Stale: last movement 18 days ago"}[lang]], [b.text for b in badges]
        check_page(d, "plans", lang)

        # one plan, reached from the priorities page when a priority links to it
        if plan_links:
            go(d, "priorities")
            wait_css(d, "#priorities a.plan-link").click()
        else:
            go(d, "plans/" + plan["id"])
        wait_css(d, "#h-tickets")
        check_page(d, "plan", lang)

        # inbox: the newest items, each with its classification; then a search
        go(d, "inbox")
        wait_css(d, "#inbox-list > li")
        ids = [e.get_attribute("data-id") for e in d.find_elements(By.CSS_SELECTOR, "#inbox-list > li")]
        assert ids == [x["id"] for x in feed["items"]]
        assert d.find_elements(By.CSS_SELECTOR, "#inbox-list > li .chip.cat")
        check_page(d, "inbox", lang)
        if feed.get("next_cursor"):
            d.find_element(By.ID, "inbox-more").click()
            WebDriverWait(d, WAIT).until(lambda _: len(d.find_elements(By.CSS_SELECTOR, "#inbox-list > li")) > len(ids))
        word = "staff" if lang == "en" else "parking"
        box = d.find_element(By.ID, "f-q")
        box.clear()
        box.send_keys(word)
        Select(d.find_element(By.ID, "f-sentiment")).select_by_value("")
        d.find_element(By.CSS_SELECTOR, "#inbox-filters button[type=submit]").click()
        WebDriverWait(d, WAIT).until(lambda _: "q=" + word in d.current_url)
        wait_text(d, "#inbox-count")
        got = [e.get_attribute("data-id") for e in d.find_elements(By.CSS_SELECTOR, "#inbox-list > li")]
        assert got == [x["id"] for x in get(stack, "/v1/feedback?limit=25&q=" + word)["items"]]
        assert not console_errors(d)

        # review queue: the items, their reason and the documented shortcuts
        go(d, "review")
        if queue["items"]:
            wait_css(d, "#review-list > li")
        else:
            wait_css(d, "#review-body .empty")
        assert "j / k" in d.find_element(By.ID, "h-keys").find_element(By.XPATH, "..").text
        check_page(d, "review", lang)

        go(d, "satisfaction")
        wait_css(d, "#stat-csat")
        check_page(d, "satisfaction", lang)

        before = get(stack, "/v1/health")
        go(d, "health")
        wait_css(d, "#stat-model")
        if health.get("model_version"):
            assert d.find_element(By.CSS_SELECTOR, "#stat-model .big").text == health["model_version"]
        # the lag probe learns groups as they commit: the page shows what the API had at that moment
        rows = len(d.find_elements(By.CSS_SELECTOR, "#lag-table tbody tr"))
        after = get(stack, "/v1/health")
        assert len(before.get("consumer_lag", [])) <= rows <= len(after.get("consumer_lag", [])), (rows, before, after)
        check_page(d, "health", lang)

        if lang == "es":  # switch; the choice is remembered across a reload
            d.find_element(By.ID, "lang-switch").click()
            WebDriverWait(d, WAIT).until(lambda _: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
            d.refresh()
            wait_css(d, "#page-title")
            assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"


def test_review_correction_reaches_kafka(stack, browser):
    """In the review queue, with the keyboard only: a category number then `s` sends a
    correction, which escucha-api publishes on escucha.corrections.v1."""
    d = browser
    go(d, "review")
    d.refresh()
    first = wait_css(d, "#review-list > li.current")
    fid = first.get_attribute("data-id")
    current = Select(first.find_element(By.CSS_SELECTOR, "select[name=category]")).first_selected_option.get_attribute("value")
    cats = [c["id"] for c in get(stack, "/v1/taxonomy")["categories"]][:9]
    n = next(i for i, c in enumerate(cats) if c != current and c not in ("other", "praise"))
    want = cats[n]
    body = d.find_element(By.TAG_NAME, "body")
    d.execute_script("document.activeElement && document.activeElement.blur()")
    body.send_keys(str(n + 1))
    WebDriverWait(d, WAIT).until(lambda _: Select(first.find_element(By.CSS_SELECTOR, "select[name=category]"))
                                 .first_selected_option.get_attribute("value") == want)
    sub = Select(first.find_element(By.CSS_SELECTOR, "select[name=subcategory]")).first_selected_option.get_attribute("value")
    body.send_keys("s")
    WebDriverWait(d, WAIT).until(lambda _: "done" in first.get_attribute("class"))
    assert not console_errors(d)
    screenshot(d, "review-after-correction")

    def ours(m):
        try:
            return json.loads(m.value()).get("id") == fid
        except ValueError:
            return False
    got = it.read_topic("escucha.corrections.v1", ours, 1, timeout=60)
    assert got, "no correction for %s on escucha.corrections.v1" % fid
    msg = json.loads(got[0].value())
    assert msg["category"] == want and msg["subcategory"] == sub, msg
    # the audit trail names who and when
    rows = sql("SELECT actor FROM audit_log WHERE entity_id = %s", (fid,))
    assert rows and stack["agency"] in rows[0][0], rows


def test_open_cases_on_top_of_the_main_view(stack, browser):
    """An open urgent case is at the top of the main view, before the statistics, marked by more than
    colour (a heading, the word Urgente with an icon, a thick border), and links to the case: its
    redacted text, its ticket and its history, where the visit itself is recorded; acknowledging it
    records who. No console error, no serious axe-core violation, in Spanish and in English."""
    d = browser
    case = stack["case"]
    for lang in ("es", "en"):
        if d.find_element(By.TAG_NAME, "html").get_attribute("lang") != lang:
            d.find_element(By.ID, "lang-switch").click()
            WebDriverWait(d, WAIT).until(lambda _: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang)
        go(d, "priorities")
        panel = wait_css(d, "#open-cases")
        wait_css(d, "#priorities > li")
        # above the priorities, right under the page's heading and intro
        assert d.execute_script(
            "return !!(arguments[0].compareDocumentPosition(document.getElementById('priorities'))"
            " & Node.DOCUMENT_POSITION_FOLLOWING)", panel)
        first_section = d.execute_script("return document.querySelector('main h2').closest('section').id")
        assert first_section == "open-cases"
        cards = d.find_elements(By.CSS_SELECTOR, "#open-cases-list > li.case-card")
        ids = [c.get_attribute("data-id") for c in cards]
        assert case["id"] in ids, ids
        card = cards[ids.index(case["id"])]
        flag = card.find_element(By.CSS_SELECTOR, ".case-flag").text.replace("!", "").strip()  # "!" is the icon
        assert flag.lower() == ("urgente" if lang == "es" else "urgent"), flag
        assert "amenaza: me amenazó con matarme" in card.text
        assert CASE_TEXT not in panel.text  # the text only on the case's own page (an audited read)
        assert card.find_element(By.CSS_SELECTOR, ".case-name").text == taxonomy_label("safety/violence_threats", lang)
        assert card.find_element(By.CSS_SELECTOR, "a.ticket-link").get_attribute("href") == \
            "http://127.0.0.1:3000/issues/9001"
        # not colour alone: a thick left border on the card
        assert float(d.execute_script("return parseFloat(getComputedStyle(arguments[0]).borderLeftWidth)", card)) >= 6
        check_page(d, "priorities-with-case", lang)
        # the link leads to the case: the redacted text and the trail with this very visit
        views = sql("SELECT count(*) FROM audit_log WHERE entity = 'case' AND entity_id = %s AND action = 'viewed'",
                    (case["id"],))[0][0]
        card.find_element(By.CSS_SELECTOR, "a.case-link").click()
        wait_css(d, "#audit-table")
        assert d.find_element(By.CSS_SELECTOR, ".case-text").text == CASE_TEXT
        assert "viewed" in d.find_element(By.ID, "audit-table").text
        assert sql("SELECT count(*) FROM audit_log WHERE entity = 'case' AND entity_id = %s AND action = 'viewed'",
                   (case["id"],))[0][0] == views + 1
        check_page(d, "case", lang)
    # handling: acknowledge (the legacy key has the review role), recorded with who and how
    d.find_element(By.ID, "case-ack").click()
    wait_text(d, "#ack-result")
    rows = sql("SELECT actor, detail FROM audit_log WHERE entity = 'case' AND entity_id = %s AND action = 'acknowledged'",
               (case["id"],))
    assert len(rows) == 1 and rows[0][0] == stack["agency"] + ":review", rows
    assert rows[0][1]["via"] == "session" and rows[0][1]["key_id"] == hashlib.sha256(stack["key"].encode()).hexdigest()[:12]
    assert stack["key"] not in json.dumps(rows[0][1])
    wait_css(d, ".case-ack.done")
    assert not console_errors(d)
    screenshot(d, "case-acknowledged-en")
    # the cases page lists it too
    go(d, "cases")
    wait_css(d, "#cases > li")
    assert case["id"] in [e.get_attribute("data-id") for e in d.find_elements(By.CSS_SELECTOR, "#cases > li")]
    check_page(d, "cases", "en")
