"""Ingest under faults: kill -9 mid-load, Redis down, Kafka down."""
import json
import os
import subprocess
import threading
import time

import requests

from conftest import HTTP_PORT, REDIS_PORT, REPO, pb, post_json, read_topic, unique, wait_until


def stack(*args):
    subprocess.run([os.path.join(REPO, "scripts", "stack.sh")] + list(args), check=True,
                   stdout=subprocess.DEVNULL, timeout=120)


def redis(*args):
    return subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "--raw"] + list(args), check=True,
                          capture_output=True, text=True, timeout=10).stdout.strip()


def key_holding(fid, kind="h"):
    """The dedup key whose value names fid (anonymous keys hash text, channel,
    service and scores, so tests find them by value)."""
    for k in redis("KEYS", "escucha:dedup:demo:%s:*" % kind).split():
        if fid in redis("GET", k):
            return k
    raise AssertionError("no dedup key holds %s" % fid)


def fake_id():
    # a ULID-shaped id no instance ever produced (Crockford base32, 26 chars)
    return ("01ZZ" + unique("").replace("-", "").upper().replace("I", "J").replace("L", "K")
            .replace("O", "P").replace("U", "V") + "0" * 26)[:26]


def ingested_one(fid):
    got = read_topic("escucha.feedback.ingested.v1", lambda m: (m.key() or b"").decode("utf-8", "replace") == fid, 1, timeout=60)
    assert got, "id %s not in the topic" % fid
    fb = pb.Feedback()
    fb.ParseFromString(got[0].value())
    return fb


def test_lapsed_claim_is_taken_over_under_the_same_id(services, api_key):
    """A pending claim left by an instance that died (or a send that failed) is
    adopted by the twin that comes next: produced again under the claim's id,
    so a copy Kafka may already hold is the same feedback, stored once."""
    ing = services.start("ingest", http_port=HTTP_PORT)
    now_ms = lambda: int(time.time() * 1000)

    # an external id: its own key, the content is not a key (other ids are other people)
    ext = unique("ext")
    body = {"text": "La plataforma de citas falla al confirmar " + ext, "external_id": ext}
    r = post_json("/v1/feedback", body, api_key)
    assert r.status_code == 202, r.text
    keys = ["escucha:dedup:demo:x:" + ext]
    # a single request's claim names its loop iteration's group, settled by the group key
    claims = [redis("GET", k).split(":") for k in keys]
    assert claims[0][:2] == ["p", r.json()["id"]], claims
    wait_until(lambda: redis("GET", "escucha:dedup:g:" + claims[0][3]) == "1", 10, what="group key")
    dead = fake_id()
    for k in keys:
        redis("SET", k, "p:%s:%d" % (dead, now_ms() - 1000), "EX", "600")
    r = post_json("/v1/feedback", body, api_key)
    assert r.status_code == 202, r.text
    assert r.json()["id"] == dead
    assert ingested_one(dead).text == body["text"]
    assert [redis("GET", k) for k in keys] == [dead]
    # a claim whose lease is still running may belong to a live instance: retry later
    live = "p:%s:%d" % (fake_id(), now_ms() + 60000)
    for k in keys:
        redis("SET", k, live, "EX", "600")
    r = post_json("/v1/feedback", body, api_key)
    assert r.status_code == 503, r.text
    assert [redis("GET", k) for k in keys] == [live]

    # anonymous content: a failed send leaves lease 0
    body = {"text": "El formulario web no guarda la dirección " + unique()}
    r = post_json("/v1/feedback", body, api_key)
    assert r.status_code == 202, r.text
    key = key_holding(r.json()["id"])
    failed = fake_id()
    redis("SET", key, "p:%s:0" % failed, "EX", "600")
    r = post_json("/v1/feedback", body, api_key)
    assert r.status_code == 202 and r.json()["id"] == failed, r.text
    ingested_one(failed)
    r = post_json("/v1/feedback", body, api_key)
    assert r.status_code == 200 and r.json()["id"] == failed and r.json()["status"] == "duplicate", r.text
    assert ing.metrics()["escucha_ingest_claim_takeovers_total"] == 2


def test_batch_claims_settle_with_one_group_key(services, api_key):
    """A batch's claims name the batch ("p:<id>:<lease>:<group>") and one group
    key settles them all once every item is acknowledged; a twin reads it and
    answers duplicate. If an item of the batch fails, there is no group key: the
    acknowledged ones are settled one by one, the failed one lapses at once."""
    now_ms = lambda: int(time.time() * 1000)
    marker = unique("refuse")
    ing = services.start("ingest", http_port=HTTP_PORT, env={"ESCUCHA_TEST_FAIL_TEXT": marker})
    u = unique()
    a = {"text": "El bus 210 no pasa por el paradero de la plaza " + u}
    b = {"text": "La oficina de licencias cierra antes de la hora publicada " + u, "external_id": "b-" + u}
    r = post_json("/v1/feedback:batch", [a, b], api_key)
    assert r.status_code == 202 and r.json()["accepted"] == 2, r.text
    ida, idb = [x["id"] for x in r.json()["results"]]
    claim = redis("GET", "escucha:dedup:demo:x:b-" + u)
    p, cid, lease, gid = claim.split(":")
    assert (p, cid) == ("p", idb) and int(lease) > now_ms() and len(gid) == 26
    hkey = key_holding(ida)
    assert redis("GET", hkey).split(":")[::3] == ["p", gid]          # both items, one group
    wait_until(lambda: redis("GET", "escucha:dedup:g:" + gid) == "1", 10, what="group key")
    # twins, one by one and as a batch again
    r = post_json("/v1/feedback", a, api_key)
    assert r.status_code == 200 and r.json()["id"] == ida and r.json()["status"] == "duplicate", r.text
    r = post_json("/v1/feedback", b, api_key)
    assert r.status_code == 200 and r.json()["id"] == idb and r.json()["status"] == "duplicate", r.text
    r = post_json("/v1/feedback:batch", [b, a], api_key)
    assert r.status_code == 200 and [x["id"] for x in r.json()["results"]] == [idb, ida], r.text
    # a grouped claim without its group key: live lease → retry later; lapsed → taken over
    c = {"text": "No funciona el botón de pago en la web municipal " + u, "external_id": "c-" + u}
    ckey, other = "escucha:dedup:demo:x:c-" + u, fake_id()
    redis("SET", ckey, "p:%s:%d:%s" % (other, now_ms() + 60000, fake_id()), "EX", "600")
    assert post_json("/v1/feedback", c, api_key).status_code == 503
    redis("SET", ckey, "p:%s:%d:%s" % (other, now_ms() - 1000, fake_id()), "EX", "600")
    r = post_json("/v1/feedback", c, api_key)
    assert r.status_code == 202 and r.json()["id"] == other, r.text
    assert redis("GET", ckey) == other
    # one item of a batch fails: no group key; the sibling is settled on its own
    groups = set(redis("KEYS", "escucha:dedup:g:*").split())
    d = {"text": "Los semáforos de la avenida están apagados " + u, "external_id": "d-" + u}
    e = {"text": "Reclamo que Kafka rechaza " + marker, "external_id": "e-" + u}
    r = post_json("/v1/feedback:batch", [d, e], api_key)
    assert r.status_code == 503, r.text
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "unavailable"]
    idd = r.json()["results"][0]["id"]
    assert wait_until(lambda: redis("GET", "escucha:dedup:demo:x:d-" + u) == idd, 10, what="d settled")
    lapsed = redis("GET", "escucha:dedup:demo:x:e-" + u).split(":")
    assert lapsed[0] == "p" and lapsed[2] == "0" and len(lapsed) == 3, lapsed
    assert set(redis("KEYS", "escucha:dedup:g:*").split()) == groups
    r = post_json("/v1/feedback", d, api_key)
    assert r.status_code == 200 and r.json()["id"] == idd, r.text
    assert ing.metrics()["escucha_ingest_claim_takeovers_total"] == 1


def test_kill9_during_batch_load_loses_no_acknowledged_item(services, api_key):
    ing = services.start("ingest", http_port=HTTP_PORT)
    u = unique()
    acked, stop = [], threading.Event()
    sent = [0]

    def load():
        s = requests.Session()
        b = 0
        while not stop.is_set():
            lines = "\n".join(json.dumps({"text": "carga %s lote %d item %d" % (u, b, i)}) for i in range(200))
            b += 1
            try:
                r = s.post("http://127.0.0.1:%d/v1/feedback:batch" % HTTP_PORT, data=lines, timeout=10,
                           headers={"Authorization": "Bearer " + api_key, "Content-Type": "application/x-ndjson"})
            except requests.RequestException:
                continue  # the server died under us: nothing in that batch was acknowledged
            sent[0] += 1
            if r.status_code in (200, 202, 503):
                acked.extend(x["id"] for x in r.json()["results"] if x["status"] == "accepted")

    t = threading.Thread(target=load)
    t.start()
    wait_until(lambda: len(acked) >= 2000, 60, what="2000 acknowledged items")
    ing.kill9()
    before = len(acked)
    ing.start()
    wait_until(lambda: len(acked) >= before + 1000, 60, what="load resumed after restart")
    stop.set()
    t.join(30)
    ids = set(acked)
    got = read_topic("escucha.feedback.ingested.v1", lambda m: (m.key() or b"").decode("utf-8", "replace") in ids, len(ids), timeout=120)
    found = {(m.key() or b"").decode("utf-8", "replace") for m in got}
    assert len(ids) > 3000
    assert ids <= found, "%d acknowledged ids missing from the topic" % len(ids - found)


def test_redis_down_keeps_accepting_then_dedups_again(services, api_key):
    ing = services.start("ingest", http_port=HTTP_PORT)
    stack("redis-stop")
    try:
        wait_until(lambda: "redis=degraded" in requests.get(
            "http://127.0.0.1:%d/readyz" % ing.admin_port).text, 15, what="redis degraded")
        before = ing.metric("escucha_ingest_dedup_degraded_total")
        r = post_json("/v1/feedback", {"text": "Sin Redis " + unique()}, api_key)
        assert r.status_code == 202, r.text
        assert ing.metric("escucha_ingest_dedup_degraded_total") == before + 1
    finally:
        stack("redis-start")
    wait_until(lambda: "redis=ok" in requests.get("http://127.0.0.1:%d/readyz" % ing.admin_port).text, 20,
               what="redis reconnected")
    body = {"text": "Con Redis de vuelta " + unique()}
    assert post_json("/v1/feedback", body, api_key).status_code == 202
    assert post_json("/v1/feedback", body, api_key).status_code == 200


def test_kafka_down_answers_503_and_recovers(services, api_key):
    ing = services.start("ingest", http_port=HTTP_PORT)
    stack("kafka-stop")
    try:
        r = post_json("/v1/feedback", {"text": "Kafka caído " + unique()}, api_key)
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        wait_until(lambda: not ing.ready(), 15, what="/readyz to report not ready")
    finally:
        stack("kafka-start")
    body = {"text": "Kafka de vuelta " + unique()}
    r = wait_until(lambda: (lambda x: x if x.status_code == 202 else None)(post_json("/v1/feedback", body, api_key)),
                   60, interval=0.5, what="202 after Kafka restart")
    fid = r.json()["id"]
    assert read_topic("escucha.feedback.ingested.v1", lambda m: (m.key() or b"").decode("utf-8", "replace") == fid, 1)
    wait_until(ing.ready, 15, what="/readyz ready again")
