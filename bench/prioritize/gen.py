#!/usr/bin/env python3
"""Bench input: N classified feedback messages produced to
escucha.feedback.classified.v1 and the very same rows as a COPY text file.
  gen.py BROKERS AGENCY N PB_DIR COPY_FILE GROUP [AGENCIES]
GROUP's offsets are first committed at the topic's end, so the service then
consumes exactly this run's messages (not the topic's history). With AGENCIES
> 1 the messages go round-robin to agencies AGENCY-0 .. AGENCY-(AGENCIES-1)."""
import random
import sys

sys.path.insert(0, sys.argv[4])
from escucha.v1 import escucha_pb2 as pb  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

brokers, agency0, n, copy_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[5]
agencies = int(sys.argv[7]) if len(sys.argv) > 7 else 1
T0 = 1709510400000  # Monday 2024-03-04 00:00 UTC: fixed windows
CATS = ["procedures", "waiting_times", "staff_attention", "digital_channels", "information",
        "accessibility", "payments_fees", "health_services", "facilities", "transport"]
SENT = {pb.POSITIVE: "POSITIVE", pb.NEUTRAL: "NEUTRAL", pb.NEGATIVE: "NEGATIVE"}
WORDS = ("espera fila atención trámite documento cita pago sitio web horario funcionario "
         "respuesta demora clínica licencia certificado oficina").split()
TOPIC = "escucha.feedback.classified.v1"
c = Consumer({"bootstrap.servers": brokers, "group.id": sys.argv[6], "enable.auto.commit": False})
md = c.list_topics(TOPIC, timeout=10).topics[TOPIC]
if md.error is not None or not md.partitions:
    sys.exit("bench: topic %s is missing (%s): run scripts/stack.sh up first" % (TOPIC, md.error))
ends = [TopicPartition(TOPIC, p, c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1])
        for p in md.partitions]
# An empty partition (a fresh broker) has nothing to skip, and librdkafka refuses to
# commit offset 0 of a group that has none ("No offset stored"): commit only the rest.
ends = [tp for tp in ends if tp.offset > 0]
if ends:
    c.commit(offsets=ends, asynchronous=False)
c.close()
rng = random.Random(42)
p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 20,
              "queue.buffering.max.messages": 1000000, "compression.codec": "lz4"})


def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


with open(copy_file, "w") as out:
    for i in range(n):
        m = pb.ClassifiedFeedback()
        f, c = m.feedback, m.classification
        agency = agency0 if agencies == 1 else "%s-%d" % (agency0, i % agencies)
        cat = CATS[rng.randrange(len(CATS))]
        at = T0 + i * 1000
        f.id = "%s-%09d" % (agency0, i)
        f.agency, f.service, f.channel, f.language = agency, "svc", pb.WEB, "es"
        f.text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
        f.received_at, f.created_at = at, at - 500
        nps = rng.randrange(11) if rng.random() < 0.4 else None
        csat = rng.randint(1, 5) if rng.random() < 0.3 else None
        if nps is not None:
            f.nps = nps
        if csat is not None:
            f.csat = csat
        c.category = cat
        c.subcategory = "%s/sub%d" % (cat, rng.randrange(3))
        # a working classifier: ~15% low-confidence (these feed the emerging sketch)
        c.confidence = rng.random() * 0.5 if rng.random() < 0.15 else 0.5 + rng.random() * 0.5
        c.sentiment = rng.choice(list(SENT))
        c.sentiment_score = rng.random()
        c.urgent = rng.random() < 0.02
        c.model_version = "bench"
        m.classified_at = at + 20
        p.produce("escucha.feedback.classified.v1", m.SerializeToString(),
                  key=("%s/%s" % (agency, cat)).encode())
        p.poll(0)
        # same columns/order as the COPY in run.sh
        row = [f.id, agency, "svc", "WEB", "\\N", esc(f.text), "es",
               "%d" % (at - 500), "%d" % at, "\\N" if nps is None else str(nps),
               "\\N" if csat is None else str(csat), cat, c.subcategory, repr(c.confidence),
               SENT[c.sentiment], repr(c.sentiment_score), "\\N", "t" if c.urgent else "f",
               "bench", "\\N", "\\N", "%d" % (at + 20)]
        out.write("\t".join(row) + "\n")
assert p.flush(120) == 0
