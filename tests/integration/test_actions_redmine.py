"""escucha-actions against a real Redmine (Debian's redmine 5.0 package,
SQLite, started by scripts/redmine.sh on 127.0.0.1): a planted ActionRequest
ends as exactly one Redmine issue with the plan in its description, also when
the request comes twice; closing the issue in Redmine shows up as `done`.
Citizen text with line breaks, an @mention, markup and a line shaped like
the idempotency marker stays inside the quote of the Textile description
(raw and as Redmine renders it), and the marker appears once.

Redmine is started here when it is not running yet (and then stopped at the
end); its state stays in $ESCUCHA_STATE_DIR/redmine, so later runs start in
a few seconds."""
import html
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
import requests

from conftest import PG_DSN, REPO, pb, producer, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contract"))
import actions_it as it  # noqa: E402

SCRIPT = os.path.join(REPO, "scripts", "redmine.sh")


def redmine_running(start_timeout):
    """For a module fixture: starts the test Redmine unless it runs, yields its ESCUCHA_REDMINE_*
    settings, and stops it afterwards if it was started here."""
    was_running = subprocess.run([SCRIPT, "status"], capture_output=True).returncode == 0
    p = subprocess.run([SCRIPT, "start"], capture_output=True, text=True, timeout=start_timeout)
    assert p.returncode == 0, "scripts/redmine.sh start failed:\n%s" % p.stderr[-3000:]
    yield dict(line.split("=", 1) for line in p.stdout.split() if "=" in line)
    if not was_running:
        subprocess.run([SCRIPT, "stop"], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def redmine():
    yield from redmine_running(240)


@pytest.fixture(scope="module")
def taxonomy(tmp_path_factory):
    return it.taxonomy_routed(str(tmp_path_factory.mktemp("tax") / "taxonomy.json"), {"tool": "redmine"})


def api(rm, method, path, **kw):
    r = requests.request(method, rm["ESCUCHA_REDMINE_BASE_URL"] + path,
                         headers={"X-Redmine-API-Key": rm["ESCUCHA_REDMINE_TOKEN"]}, timeout=15, **kw)
    r.raise_for_status()
    return r.json() if r.content.strip() else None


def issues_with(rm, key, cf=None):
    q = {"project_id": rm["ESCUCHA_REDMINE_PROJECT"], "status_id": "*", "limit": 100}
    if cf:
        q["cf_%s" % cf] = key
    else:
        q["subject"] = "~" + key
    return api(rm, "GET", "/issues.json", params=q)["issues"]


WJ = "\u2060"  # the word joiner that neutralizes mentions, references and links


class RenderedDescription(HTMLParser):
    """The rendered description of an issue page (div.description > div.wiki):
    its text inside and outside <blockquote>, and its links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.state, self.depth, self.bq = "before", 0, 0
        self.inside, self.outside, self.links = [], [], []

    def handle_starttag(self, tag, attrs):
        cls = (dict(attrs).get("class") or "").split()
        if self.state == "before" and tag == "div" and "description" in cls:
            self.state = "description"
        elif self.state == "description" and tag == "div" and "wiki" in cls:
            self.state, self.depth = "wiki", 1
        elif self.state == "wiki":
            self.depth += tag == "div"
            self.bq += tag == "blockquote"
            if tag == "a":
                self.links.append(dict(attrs))
            if tag in ("br", "p"):
                self.handle_data("\n")

    def handle_endtag(self, tag):
        if self.state != "wiki":
            return
        self.bq -= tag == "blockquote"
        if tag == "div":
            self.depth -= 1
            if self.depth == 0:
                self.state = "after"

    def handle_data(self, data):
        if self.state == "wiki":
            (self.inside if self.bq else self.outside).append(data)


def key_of(request_id):
    import hashlib
    return "esk-" + hashlib.sha256(request_id.encode()).hexdigest()[:32]


@pytest.mark.parametrize("mode", ["subject", "custom_field"])
def test_one_redmine_issue_per_plan_and_close(services, redmine, taxonomy, mode):
    env = {k: v for k, v in redmine.items() if k.startswith("ESCUCHA_")}
    cf = None
    if mode == "custom_field":
        cf = redmine["REDMINE_KEY_FIELD_ID"]
        env["ESCUCHA_REDMINE_KEY_FIELD_ID"] = cf
    env.update({"ESCUCHA_TAXONOMY": taxonomy, "ESCUCHA_POLL_INTERVAL_S": "0.2", "ESCUCHA_RETRY_BASE_MS": "20",
                "ESCUCHA_RETRY_MAX": "2", "ESCUCHA_LANG": "es"})
    agency = it.unique("ag")
    it.plant_feedback(PG_DSN, agency)
    services.start("actions", env=env)
    prod = producer()
    req = it.action_request(pb, agency)
    it.produce(prod, req)
    row = wait_until(lambda: it.action_row(PG_DSN, req.request_id), 60, 0.1, "the Redmine ticket")
    plan_id, tool, ext, url, status = row[:5]
    assert tool == "redmine" and status == "open"
    assert url == "%s/issues/%s" % (redmine["ESCUCHA_REDMINE_BASE_URL"], ext)
    key = key_of(req.request_id)
    issue = api(redmine, "GET", "/issues/%s.json" % ext)["issue"]
    desc = issue["description"].replace("\r\n", "\n")
    assert desc.rstrip("\n").split("\n")[-1] == "escucha-key: " + key
    text = it.shown(desc)  # Textile-escaped: what a reader sees
    assert row[6] in text  # the plan's summary
    assert any(q["text"] in text for q in row[7]) and row[8][0] in text
    assert issue["status"]["id"] == int(redmine["ESCUCHA_REDMINE_NEW_STATUS_ID"])
    if cf:
        assert [c["value"] for c in issue["custom_fields"] if str(c["id"]) == cf] == [key]
    assert [i["id"] for i in issues_with(redmine, key, cf)] == [int(ext)]

    # the same request again, then a later one on the same partition
    it.produce(prod, req)
    later = it.action_request(pb, it.unique("ag2"))
    it.produce(prod, later, key="%s/%s" % (agency, "waiting_times"))
    wait_until(lambda: it.action_row(PG_DSN, later.request_id), 60, 0.1, "the later request's ticket")
    assert [i["id"] for i in issues_with(redmine, key, cf)] == [int(ext)]

    # closed in Redmine -> done in actions
    api(redmine, "PUT", "/issues/%s.json" % ext,
        json={"issue": {"status_id": int(redmine["REDMINE_CLOSED_STATUS_ID"])}})
    wait_until(lambda: it.action_row(PG_DSN, req.request_id)[4] == "done", 30, 0.1, "status done")
    assert it.audit(PG_DSN, plan_id, "ticket_opened") == 1
    assert it.audit(PG_DSN, plan_id, "ticket_closed") == 1


def test_citizen_text_stays_quoted(services, redmine, taxonomy):
    """Feedback with line breaks (CRLF too), an @mention of Redmine's admin,
    an issue reference, Textile/HTML markup, a macro, a link and a line that
    is this very plan's marker: in the issue every citizen line is a quote
    line, the rendered page has them all inside <blockquote> and not one link
    or mention, the marker is the description's one last line; the request
    again opens nothing."""
    env = {k: v for k, v in redmine.items() if k.startswith("ESCUCHA_")}
    # no dashboard links of ours (ESCUCHA_DASHBOARD_URL empty): below, no link at all may be made
    env.update({"ESCUCHA_TAXONOMY": taxonomy, "ESCUCHA_POLL_INTERVAL_S": "0.2", "ESCUCHA_RETRY_BASE_MS": "20",
                "ESCUCHA_RETRY_MAX": "2", "ESCUCHA_LANG": "es", "ESCUCHA_DASHBOARD_URL": ""})
    agency = it.unique("ag")
    req = it.action_request(pb, agency)
    key = key_of(req.request_id)
    texts = list(it.TOPIC_TEXTS)
    texts[0] = ("Esperé tres horas en la fila de la oficina\r\n@admin nadie me atendió, ver #1\r\n"
                "escucha-key: %s" % key)
    texts[1] = ("La fila para ser atendido en la oficina es eterna\n\n\n# tres horas de espera\n"
                "*urgente* {{toc}} [[Inicio]] http://example.org/fila")
    texts[2] = ("Tres horas de espera en la fila\rh1. un solo funcionario atendiendo la oficina\n"
                "<b>fila</b> bq. ESCUCHA-KEY: esk-0123")
    it.plant_feedback(PG_DSN, agency, topic_texts=texts)
    services.start("actions", env=env)
    prod = producer()
    it.produce(prod, req)
    row = wait_until(lambda: it.action_row(PG_DSN, req.request_id), 60, 0.1, "the Redmine ticket")
    plan_id, ext, quotes = row[0], row[2], row[7]
    # the hostile texts are among the plan's quotes, so the checks below bite
    joined = "\n".join(q["text"] for q in quotes)
    assert "@admin" in joined and "escucha-key: " + key in joined and "\n" in joined, quotes
    lines = [ln.strip() for q in quotes for ln in re.split(r"\r\n|\r|\n", q["text"]) if ln.strip()]

    desc = api(redmine, "GET", "/issues/%s.json" % ext)["issue"]["description"].replace("\r\n", "\n")
    dl = desc.rstrip("\n").split("\n")
    assert dl[-1] == "escucha-key: " + key  # ours; one of the citizen lines reads the same
    for ln in lines:  # each citizen line is a quote line, and only there
        assert any(d.startswith("> ") and ln in it.shown(d[2:]) for d in dl), (ln, desc)
        assert not any(ln in it.shown(d) for d in dl[:-1] if not d.startswith(">")), (ln, desc)
    decoded = html.unescape(desc)  # entities decoded, word joiners kept
    assert "@admin" not in decoded and "#1" not in decoded and "://" not in decoded
    assert len(re.findall(r"(?i)escucha-key", desc)) == 1

    page = requests.get("%s/issues/%s" % (redmine["ESCUCHA_REDMINE_BASE_URL"], ext), timeout=15)
    page.raise_for_status()
    r = RenderedDescription()
    r.feed(page.text)
    inside, outside = "".join(r.inside), "".join(r.outside)
    assert r.state == "after" and inside, "no rendered description with a quote"
    assert outside.count("escucha-key: " + key) == 1
    outside = outside.replace("escucha-key: " + key, "")  # ours, checked above
    for ln in lines:  # as read on screen (word joiners are invisible)
        assert ln in inside.replace(WJ, "") and ln not in outside.replace(WJ, ""), (ln, inside, outside)
    assert r.links == [], r.links  # no mention, issue link, wiki link or URL was made
    assert "escucha-key" not in inside.lower() and "escucha-key" not in outside

    # the same request again, then a later one on the same partition: still one issue
    it.produce(prod, req)
    later = it.action_request(pb, it.unique("ag2"))
    it.produce(prod, later, key="%s/%s" % (agency, "waiting_times"))
    wait_until(lambda: it.action_row(PG_DSN, later.request_id), 60, 0.1, "the later request's ticket")
    assert [i["id"] for i in issues_with(redmine, key)] == [int(ext)]
    assert it.action_row(PG_DSN, req.request_id)[2] == ext
    assert it.audit(PG_DSN, plan_id, "ticket_opened") == 1
