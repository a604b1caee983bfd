"""Reporters' contacts sealed at the door (close-the-loop issue, step 1), on the
real stack: ingest seals a consenting reporter's contact to the notifier's key,
prioritize keeps only the sealed bytes in `contacts` and purges them; the clear
address is nowhere — not on a topic, not in PostgreSQL, not in a log."""
import ctypes
import ctypes.util
import glob
import hashlib
import json
import os
import subprocess

import requests

from conftest import (ADMIN, ADMIN_BASE, BROKERS, HTTP_PORT, PG_DSN, STATE, post_json, read_all, sql, unique,  # noqa: F401
                      wait_until)


def unseal(box):
    """crypto_box_seal_open with the stack's contact secret key (libsodium through ctypes:
    the test opens what only escucha-actions is meant to open)."""
    so = ctypes.CDLL(ctypes.util.find_library("sodium"))
    assert so.sodium_init() >= 0
    sk = bytes.fromhex(open(os.path.join(STATE, "contact.key")).read().strip())
    pk = ctypes.create_string_buffer(32)
    so.crypto_scalarmult_base(pk, sk)
    out = ctypes.create_string_buffer(len(box) - 48)
    assert so.crypto_box_seal_open(out, bytes(box), ctypes.c_ulonglong(len(box)), pk, sk) == 0
    return json.loads(out.raw.decode())


def metric(port, name, label):
    text = requests.get("http://127.0.0.1:%d/metrics" % port, timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + "{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_contact_sealed_stored_purged_never_in_clear(services, tmp_path):
    agency = "ct-" + unique()
    key = "k-" + unique()
    keys = tmp_path / "keys"
    keys.write_text("%s:%s\n" % (agency, hashlib.sha256(key.encode()).hexdigest()))
    u = unique().split("-")[1]
    email = "vecina.%s@example.cl" % u          # letters only: unique and not a phone number
    phone = "+56 9 %s" % "".join(str(ord(c) % 10) for c in u[:8])
    ing = services.start("ingest", http_port=HTTP_PORT, env={"ESCUCHA_API_KEYS_FILE": str(keys)})
    services.start("classify")
    # the shared group: it resumes where earlier tests left (a new group would replay the whole topic)
    services.start("prioritize", env={"ESCUCHA_BATCH_MS": "50", "ESCUCHA_CONTACT_PURGE_INTERVAL": "1"})
    subs = {
        "mail": {"text": "La luminaria de mi pasaje lleva un mes apagada " + u,
                 "contact": {"email": email}, "consent": True},
        "wa": {"text": "El camion de basura no paso esta semana " + u,
               "contact": {"phone": phone, "via": "whatsapp"}, "consent": True},
        "none": {"text": "Hay un hoyo enorme frente al consultorio " + u, "contact": {"email": "otra." + email}},
    }
    ids = {}
    for k, body in subs.items():
        r = post_json("/v1/feedback", body, key)
        assert r.status_code == 202, r.text
        ids[k] = r.json()["id"]
    # a malformed contact is refused naming the field
    r = post_json("/v1/feedback", {"text": "x " + u, "contact": {"phone": "123", "via": "sms"}, "consent": True}, key)
    assert r.status_code == 400 and r.json()["error"]["field"] == "contact.phone", r.text

    wait_until(lambda: sql("SELECT count(*) FROM feedback WHERE agency = %s", (agency,))[0][0] == 3, 120,
               what="the three items stored")
    rows = {fid: (via, bytes(sealed), exp) for fid, via, sealed, exp in
            sql("SELECT feedback_id, via, sealed, expires_at - (SELECT received_at FROM feedback f "
                "WHERE f.id = c.feedback_id) FROM contacts c WHERE agency = %s", (agency,))}
    assert set(rows) == {ids["mail"], ids["wa"]}, "only consenting reporters are kept"
    assert rows[ids["mail"]][0] == "email" and rows[ids["wa"]][0] == "whatsapp"
    assert rows[ids["mail"]][2].days == 180
    assert unseal(rows[ids["mail"]][1]) == {"v": 1, "email": email}
    opened = unseal(rows[ids["wa"]][1])
    assert opened["via"] == "whatsapp" and opened["phone"] == phone.replace(" ", "")
    port = ADMIN_BASE + ADMIN["ingest"]
    assert metric(port, "escucha_ingest_contacts_total", 'result="no_consent"') >= 1
    assert metric(port, "escucha_ingest_contacts_total", 'result="sealed"') >= 2

    # nowhere in clear: topics, every PostgreSQL table (pg_dump), the services' logs
    needles = [email.encode(), phone.replace(" ", "").encode(), phone.encode()]
    for topic in ("escucha.feedback.ingested.v1", "escucha.feedback.classified.v1", "escucha.dlq.v1"):
        hit = read_all(topic, lambda m: any(n in (m.value() or b"") + (m.key() or b"") for n in needles))
        assert not hit, "a contact in clear on %s" % topic
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    dump = subprocess.run(["pg_dump", "--data-only", PG_DSN], capture_output=True, env=env, timeout=300)
    if dump.returncode != 0:  # the server's own pg_dump when the client on PATH is older
        dump = subprocess.run(["/usr/lib/postgresql/15/bin/pg_dump", "--data-only", PG_DSN], capture_output=True,
                              env=env, timeout=300)
    assert dump.returncode == 0, dump.stderr[-500:]
    assert u.encode() in dump.stdout, "the dump holds this test's rows"
    assert not any(n in dump.stdout for n in needles), "a contact in clear in PostgreSQL"
    for log in glob.glob(os.path.join(STATE, "logs", "*.log")):
        data = open(log, "rb").read()
        assert not any(n in data for n in needles), "a contact in clear in " + log

    # purge: an expired contact and one already told the final outcome both go
    sql("UPDATE contacts SET expires_at = now() - interval '1 second' WHERE feedback_id = %s", (ids["mail"],))
    sql("UPDATE contacts SET final_notified_at = now() WHERE feedback_id = %s", (ids["wa"],))
    wait_until(lambda: sql("SELECT count(*) FROM contacts WHERE agency = %s", (agency,))[0][0] == 0, 30,
               what="expired and closed contacts purged")
    assert ing.proc.poll() is None
