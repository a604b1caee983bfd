"""Consumers leaving a group in its awkward moments: SIGTERM must still exit 0.

librdkafka 2.0.2's cooperative-sticky assignor keeps a state that only its first
completed SyncGroup creates, and destroying the consumer asserts it exists
(`rd_kafka_sticky_assignor_state_destroy: Assertion 'assignor_state' failed`,
librdkafka #4312, fixed in 2.3.0). A consumer that got its JoinGroup answer but
never its SyncGroup answer -- Kafka restarted between the two, the session timed
out, the leader stalled -- aborted on SIGTERM. The consumers now use eager
assignors (range,roundrobin), which keep no such state.

The first test builds that moment on purpose: a group member speaking the Kafka
protocol directly (this file) joins first, so it is the leader, and then never
sends its SyncGroup; the service's consumer joins, gets its JoinGroup answer and
waits in SyncGroup for an assignment that never comes; then it gets SIGTERM."""
import socket
import struct

import pytest

from conftest import BROKERS, HTTP_PORT, unique, wait_until

FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP = 10, 11, 12, 13
REBALANCE_IN_PROGRESS = 27


def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _bytes(b):
    return struct.pack(">i", len(b)) + b


class _Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def str(self):
        n = self.take(">h")
        s = self.buf[self.pos:self.pos + max(n, 0)].decode()
        self.pos += max(n, 0)
        return s

    def bytes(self):
        n = self.take(">i")
        b = self.buf[self.pos:self.pos + max(n, 0)]
        self.pos += max(n, 0)
        return b


class StallingLeader:
    """A classic-protocol group member that joins, is elected leader, and never
    assigns: every other member stays in SyncGroup until this one leaves.
    Offers every assignor the services might use, so the broker picks theirs."""

    PROTOCOLS = ("cooperative-sticky", "range", "roundrobin")

    def __init__(self, group, topic):
        host, port = BROKERS.split(",")[0].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.group, self.topic, self.corr, self.member, self.generation = group, topic, 0, "", -1

    def _call(self, api, version, body, timeout=30):
        self.corr += 1
        req = struct.pack(">hhi", api, version, self.corr) + _str("escucha-test-leader") + body
        self.sock.settimeout(timeout)
        self.sock.sendall(struct.pack(">i", len(req)) + req)
        size = struct.unpack(">i", self._recv(4))[0]
        r = _Reader(self._recv(size))
        assert r.take(">i") == self.corr
        return r

    def _recv(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise AssertionError("the broker closed the connection")
            out += chunk
        return out

    def coordinator_ready(self):
        """FindCoordinator v0; the single test broker is the coordinator once it has
        loaded the group's __consumer_offsets partition (a new group: retried)."""
        return self._call(FIND_COORDINATOR, 0, _str(self.group)).take(">h") == 0

    def join(self, timeout=30):
        """JoinGroup v1 (no member id round trip before v4). Blocks, as JoinGroup
        does, until every known member has joined; returns (protocol, members)."""
        # ConsumerProtocolSubscription v0: version, topics, no user data
        meta = struct.pack(">hi", 0, 1) + _str(self.topic) + struct.pack(">i", -1)
        body = (_str(self.group) + struct.pack(">ii", 30000, 30000) + _str(self.member) + _str("consumer") +
                struct.pack(">i", len(self.PROTOCOLS)) + b"".join(_str(p) + _bytes(meta) for p in self.PROTOCOLS))
        r = self._call(JOIN_GROUP, 1, body, timeout)
        err = r.take(">h")
        assert err == 0, "JoinGroup error %d" % err
        self.generation = r.take(">i")
        protocol, leader, self.member = r.str(), r.str(), r.str()
        members = []
        for _ in range(r.take(">i")):
            members.append(r.str())
            r.bytes()  # the member's subscription
        assert leader == self.member, "the test's member is not the group leader"
        return protocol, members

    def heartbeat(self):
        r = self._call(HEARTBEAT, 0, _str(self.group) + struct.pack(">i", self.generation) + _str(self.member))
        return r.take(">h")

    def close(self):
        try:
            if self.member:
                self._call(LEAVE_GROUP, 0, _str(self.group) + _str(self.member), timeout=5)
        except (OSError, AssertionError):
            pass  # the broker drops the member after its session timeout anyway
        self.sock.close()


# every service's consumer is made by lib/kafka.c; classify's (exactly-once) has its own rebalance callback
CASES = [
    ("ingest", "escucha.feedback.inbound.v1", {}),
    ("classify", "escucha.feedback.ingested.v1", {"ESCUCHA_CORRECTIONS_TOPIC": ""}),
    ("prioritize", "escucha.feedback.classified.v1", {}),
]


@pytest.mark.parametrize("name,topic,env", CASES, ids=[c[0] for c in CASES])
def test_sigterm_between_joingroup_and_syncgroup_exits_0(services, name, topic, env):
    """The consumer has its JoinGroup answer (an assignor is chosen) and no SyncGroup
    answer (no assignment, ever): SIGTERM exits 0, no abort."""
    group = unique("stall")
    leader = StallingLeader(group, topic)
    try:
        wait_until(leader.coordinator_ready, 30, interval=0.2, what="the group coordinator")
        protocol, members = leader.join()  # alone: elected at once
        assert members == [leader.member]
        env = dict(env, ESCUCHA_GROUP=group, ESCUCHA_LOG_LEVEL="debug", ESCUCHA_KAFKA_CONSUMER_CONFIG="debug=cgrp")
        if name == "classify":
            env["ESCUCHA_TRANSACTIONAL_ID"] = group
        svc = services.start(name, http_port=HTTP_PORT if name == "ingest" else None, env=env)
        seen = len(svc.log())  # the log file is shared with earlier runs
        # the newcomer starts a rebalance: our heartbeat says so, and we join again
        wait_until(lambda: leader.heartbeat() == REBALANCE_IN_PROGRESS, 20, interval=0.2,
                   what="the %s consumer to start a rebalance" % name)
        protocol, members = leader.join()
        assert len(members) == 2, members
        # the follower got the same answer: it asks for its assignment and waits
        wait_until(lambda: "-> wait-sync" in svc.log()[seen:], 10, what="the %s consumer waiting in SyncGroup" % name)
        rc = svc.stop()
        log = svc.log()[seen:]
        assert "Assertion" not in log and rc == 0, "escucha-%s exited %s on SIGTERM; log tail:\n%s" % (
            name, rc, log[-3000:])
        assert protocol in ("range", "roundrobin"), "the consumers chose %s" % protocol
    finally:
        leader.close()
