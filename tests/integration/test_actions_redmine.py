"""escucha-actions against a real Redmine (Debian's redmine 5.0 package,
SQLite, started by scripts/redmine.sh on 127.0.0.1): a planted ActionRequest
ends as exactly one Redmine issue with the plan in its description, also when
the request comes twice; closing the issue in Redmine shows up as `done`.

Redmine is started here when it is not running yet (and then stopped at the
end); its state stays in $ESCUCHA_STATE_DIR/redmine, so later runs start in
a few seconds."""
import os
import subprocess
import sys

import pytest
import requests

from conftest import PG_DSN, REPO, pb, producer, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contract"))
import actions_it as it  # noqa: E402

SCRIPT = os.path.join(REPO, "scripts", "redmine.sh")


@pytest.fixture(scope="module")
def redmine():
    was_running = subprocess.run([SCRIPT, "status"], capture_output=True).returncode == 0
    p = subprocess.run([SCRIPT, "start"], capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, "scripts/redmine.sh start failed:\n%s" % p.stderr[-3000:]
    env = dict(line.split("=", 1) for line in p.stdout.split() if "=" in line)
    yield env
    if not was_running:
        subprocess.run([SCRIPT, "stop"], capture_output=True, timeout=60)


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
    assert "escucha-key: " + key in desc
    assert row[6] in desc  # the plan's summary
    assert any(q["text"] in desc for q in row[7]) and row[8][0] in desc
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
