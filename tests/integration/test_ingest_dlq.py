"""Rejected inbound messages reach escucha.dlq.v1 without clear personal data: a redacted
rendering, size and hash, and the original sealed to the operator's key, which
`escucha-ingest dlq-open` opens back to the exact input bytes. The ingest log keeps no PII either."""
import json
import os
import stat
import subprocess

from conftest import BIN, BROKERS, REPO, STATE, pb, producer, read_topic, unique

INBOUND = "escucha.feedback.inbound.v1"


def run_ingest(*args):
    env = dict(os.environ, ESCUCHA_KAFKA_BROKERS=BROKERS)
    return subprocess.run([os.path.join(BIN, "escucha-ingest")] + list(args), env=env, cwd=REPO,
                          capture_output=True, timeout=180)


def test_dlq_keeps_no_clear_pii_and_opens_with_the_secret_key(services, tmp_path):
    u = unique()
    pub, sec = tmp_path / "dlq.pub", tmp_path / "dlq.key"
    r = run_ingest("dlq-keygen", str(pub), str(sec))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(sec).st_mode) == 0o600
    assert run_ingest("dlq-keygen", str(pub), str(sec)).returncode != 0  # never overwrites a key

    log_path = os.path.join(STATE, "logs", "test-ingest-0.log")
    log_start = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    ing = services.start("ingest", env={"ESCUCHA_DLQ_SEAL_PUBLIC_KEY_FILE": str(pub)})

    mail = "juan.%s@example.com" % u.replace("-", "")
    pii = [b"4111", b"5500", b"1111 1111", mail.encode(), mail.split("@")[0].encode(), b"8765"]
    inputs = {
        # valid JSON, rejected (no agency); "\u0040" is an escaped '@'
        "dlq-json-" + u: json.dumps({"text": "Tarjeta 4111 1111 1111 1111, escribir a " + mail.replace("@", "\\u0040"),
                                     "attributes": {"fono": "+56 9 8765 4321"}}).replace("\\\\u0040", "\\u0040").encode(),
        # a Feedback protobuf without agency, its card hidden by zero-width spaces
        "dlq-pb-" + u: pb.Feedback(text="tarjeta 4111\u200b1111\u200b1111\u200b1111 correo " + mail,
                                   external_id="pb-" + u).SerializeToString(),
        # malformed JSON (cut short)
        "dlq-bad-" + u: ('{"agency": "demo", "text": "tarjeta 5500 0000 0000 0004, correo %s' % mail).encode(),
    }
    p = producer()
    for k, v in inputs.items():
        p.produce(INBOUND, key=k.encode(), value=v)
    assert p.flush(30) == 0

    got = read_topic("escucha.dlq.v1", lambda m: (m.key() or b"").decode() in inputs, len(inputs))
    assert {(m.key() or b"").decode("utf-8", "replace") for m in got} == set(inputs)
    records = {}
    for m in got:
        raw = m.value()
        for s in pii:
            assert s not in raw, "clear %r in the DLQ record of %s" % (s, m.key())
        d = pb.DeadLetter.FromString(raw)
        k = (m.key() or b"").decode("utf-8", "replace")
        records[k] = d
        assert d.stage == "ingest" and d.topic == INBOUND
        assert not d.HasField("original")
        assert d.original_size == len(inputs[k]) and len(d.original_hash) == 32
        assert d.HasField("original_sealed")
        assert "[CARD]" in d.original_redacted and "[EMAIL]" in d.original_redacted, d.original_redacted
    assert records["dlq-json-" + u].reason.startswith("invalid: agency")
    assert "[PHONE]" in records["dlq-json-" + u].original_redacted
    assert "pb-" + u in records["dlq-pb-" + u].original_redacted  # what is not personal stays readable
    assert records["dlq-bad-" + u].reason.startswith("malformed JSON")

    # the operator opens the sealed originals: exactly the input bytes
    out = tmp_path / "opened"
    out.mkdir()
    r = run_ingest("dlq-open", "--dlq-secret-key-file=" + str(sec), str(out))
    assert r.returncode == 0, r.stderr
    for k, d in records.items():
        f = out / ("%s.%d.%d" % (INBOUND, d.partition, d.offset))
        assert f.read_bytes() == inputs[k], k
    # another key opens nothing of ours
    pub2, sec2 = tmp_path / "other.pub", tmp_path / "other.key"
    assert run_ingest("dlq-keygen", str(pub2), str(sec2)).returncode == 0
    out2 = tmp_path / "opened2"
    out2.mkdir()
    r = run_ingest("dlq-open", "--dlq-secret-key-file=" + str(sec2), str(out2))
    assert r.returncode == 0, r.stderr
    assert not any((out2 / ("%s.%d.%d" % (INBOUND, d.partition, d.offset))).exists() for d in records.values())

    # the log of these rejections names them without their personal data
    with open(log_path, "rb") as f:
        f.seek(log_start)
        log = f.read()
    assert log.count(b"inbound_rejected") >= len(inputs)
    for s in pii:
        assert s not in log, "clear %r in the ingest log" % s
