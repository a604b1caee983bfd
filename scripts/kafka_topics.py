#!/usr/bin/python3
"""Create Escucha's Kafka topics (if missing) and wait until they are usable.

usage: kafka_topics.py BROKERS [--partitions N] [--replication R] [--min-isr M] [--timeout S] [TOPIC ...]

One AdminClient for all topics (a JVM kafka-topics.sh per topic costs seconds
each). Done = metadata shows every topic with N partitions, each with a leader;
KRaft propagates new topics asynchronously, so CreateTopics returning is not
enough for a producer that starts right after. On a cluster (R > 1) each topic
also gets min.insync.replicas=M, and done also means every partition has M
replicas in sync.
"""
import argparse
import sys
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

TOPICS = [
    "escucha.feedback.inbound.v1",
    "escucha.feedback.ingested.v1",
    "escucha.feedback.classified.v1",
    "escucha.priorities.v1",
    "escucha.actions.requested.v1",
    "escucha.actions.v1",
    "escucha.dlq.v1",
    "escucha.corrections.v1",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("brokers")
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--replication", type=int, default=1)
    # acks=all producers (all of Escucha's) then fail rather than keep a write on fewer copies
    ap.add_argument("--min-isr", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("topics", nargs="*")
    a = ap.parse_args()
    topics = a.topics or TOPICS
    deadline = time.monotonic() + a.timeout
    admin = AdminClient({"bootstrap.servers": a.brokers})

    existing = admin.list_topics(timeout=a.timeout).topics
    todo = [t for t in topics if t not in existing]
    if todo:
        futs = admin.create_topics(
            [NewTopic(t, a.partitions, a.replication,
                      config={"min.insync.replicas": str(a.min_isr)} if a.replication > 1 else {})
             for t in todo],
            operation_timeout=a.timeout, request_timeout=a.timeout)
        for t, f in futs.items():
            try:
                f.result()
                print(f"topics: created {t}")
            except KafkaException as e:
                # a concurrent creator got there first: fine
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    sys.exit(f"topics: creating {t} failed: {e}")

    while True:
        md = admin.list_topics(timeout=max(1.0, deadline - time.monotonic())).topics
        bad = [t for t in topics
               if md.get(t) is None or md[t].error is not None or not md[t].partitions
               or any(p.leader < 0 or len(p.isrs) < a.min_isr for p in md[t].partitions.values())]
        if not bad:
            for t in topics:  # existing topics are not altered, but say so
                if len(md[t].partitions) != a.partitions:
                    print(f"topics: note: {t} has {len(md[t].partitions)} partitions",
                          file=sys.stderr)
                rf = min(len(p.replicas) for p in md[t].partitions.values())
                if rf != a.replication:
                    print(f"topics: note: {t} has replication factor {rf}, not {a.replication}",
                          file=sys.stderr)
            print(f"topics: {len(topics)} topics ready")
            return
        if time.monotonic() > deadline:
            sys.exit(f"topics: not ready after {a.timeout}s: {' '.join(bad)}")
        time.sleep(0.2)


if __name__ == "__main__":
    main()
