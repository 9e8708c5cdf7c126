"""Readiness on a replicated cluster, without a broker: the Metadata answer's partitions, which of
them refuse writes, min_insync_replicas against replication_factor, and the topics' settings."""

from __future__ import annotations

import dataclasses
import socket
import struct
import threading

import pytest

from streams import kafka_probe
from streams.admin import faust_leader_topic, topic_specs
from streams.settings import Settings
from tests.conftest import ROOT
from tests.test_config_strictness import config_dir, line_of, replace_line, settings_problems  # noqa: F401


def _string(text: str | None) -> bytes:
    if text is None:
        return struct.pack(">h", -1)
    return struct.pack(">h", len(text)) + text.encode()


def _int32s(values) -> bytes:
    return struct.pack(">i", len(values)) + b"".join(struct.pack(">i", value) for value in values)


def metadata_answer(brokers, topics) -> bytes:
    """A Metadata (version 4) answer as a broker sends it: brokers, then topics with their partitions."""
    body = struct.pack(">ii", kafka_probe.CORRELATION_ID, 0) + struct.pack(">i", len(brokers))
    for node_id, host, port, rack in brokers:
        body += struct.pack(">i", node_id) + _string(host) + struct.pack(">i", port) + _string(rack)
    body += _string("cluster-id") + struct.pack(">i", 101) + struct.pack(">i", len(topics))
    for error, name, partitions in topics:
        body += struct.pack(">h", error) + _string(name) + struct.pack(">b", 0) + struct.pack(">i", len(partitions))
        for index, leader, replicas, in_sync in partitions:
            body += struct.pack(">hii", 0, index, leader) + _int32s(replicas) + _int32s(in_sync)
    return struct.pack(">i", len(body)) + body


@pytest.fixture
def fake_broker():
    """A socket that reads one request, keeps it, and answers with the bytes it is given."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    seen: dict[str, bytes] = {}

    def serve(answer: bytes) -> str:
        def run():
            connection, _ = server.accept()
            with connection:
                (size,) = struct.unpack(">i", connection.recv(4))
                seen["request"] = connection.recv(size)
                connection.sendall(answer)

        threading.Thread(target=run, daemon=True).start()
        return f"127.0.0.1:{server.getsockname()[1]}"

    serve.seen = seen
    yield serve
    server.close()


def test_the_probe_reads_each_partitions_leader_replicas_and_in_sync_replicas(fake_broker):
    answer = metadata_answer(
        [(1, "127.0.0.1", 9092, None), (3, "127.0.0.1", 9292, "rack-b")],
        [
            (0, "m.posts", [(0, 1, [1, 2, 3], [1, 3]), (1, -1, [2, 3, 1], [])]),
            (3, "m.missing", []),  # UNKNOWN_TOPIC_OR_PARTITION: not created yet, no partitions to judge
        ],
    )
    brokers, partitions = kafka_probe.metadata(fake_broker(answer), 2.0, ["m.posts", "m.missing"])
    assert brokers == [(1, "127.0.0.1", 9092), (3, "127.0.0.1", 9292)]
    assert partitions == [("m.posts", 0, 1, (1, 2, 3), (1, 3)), ("m.posts", 1, -1, (2, 3, 1), ())]
    assert b"m.posts" in fake_broker.seen["request"] and b"m.missing" in fake_broker.seen["request"]


def test_a_partition_refuses_writes_without_a_leader_or_with_fewer_in_sync_replicas_than_the_minimum():
    partitions = [
        ("m.posts", 0, 1, (1, 2, 3), (1, 2, 3)),
        ("m.posts", 1, 2, (2, 3, 1), (2, 3)),
        ("m.ledger", 2, 3, (3, 1, 2), (3,)),
        ("m.ledger", 0, -1, (1, 2, 3), ()),
    ]
    assert kafka_probe.short_of_replicas(partitions, 2) == [
        "m.ledger-0 (no leader)",
        "m.ledger-2 (1 of 3 replicas in sync)",
    ]
    assert kafka_probe.short_of_replicas(partitions, 3) == [
        "m.ledger-0 (no leader)",
        "m.ledger-2 (1 of 3 replicas in sync)",
        "m.posts-1 (2 of 3 replicas in sync)",
    ]
    assert kafka_probe.short_of_replicas(partitions[:1], 1) == []


def test_min_insync_replicas_above_the_replication_factor_is_refused_where_it_was_set(config_dir):  # noqa: F811
    problems = settings_problems(config_dir, {"MODWATCH_REPLICATION_FACTOR": "3", "MODWATCH_MIN_INSYNC_REPLICAS": "4"})
    assert problems == [
        "environment MODWATCH_MIN_INSYNC_REPLICAS: 4 is more than replication_factor 3: every write would be refused"
    ]
    text = replace_line(config_dir / "modwatch.yaml", "min_insync_replicas: 1", "min_insync_replicas: 2")
    problems = settings_problems(config_dir)
    assert problems == [
        f"{config_dir / 'modwatch.yaml'}:{line_of(text, 'min_insync_replicas: 2')}: min_insync_replicas: 2 is more "
        "than replication_factor 1: every write would be refused"
    ]


def test_every_topic_modwatch_creates_has_the_replication_factor_and_min_insync_replicas_asked_for():
    settings = Settings.load(
        ROOT / "config", environ={"MODWATCH_REPLICATION_FACTOR": "3", "MODWATCH_MIN_INSYNC_REPLICAS": "2"}
    )
    specs = topic_specs(settings)
    assert {spec.name.rsplit(".", 1)[1] for spec in specs} >= {"ledger", "item-state", "posts", "alerts"}
    for spec in specs:
        assert spec.replication_factor == 3, spec.name
        assert spec.topic_configs["min.insync.replicas"] == "2", spec.name
    ledger = next(spec for spec in specs if spec.name.endswith(".ledger"))
    assert ledger.topic_configs["retention.ms"] == "-1"  # the audit trail is still kept forever
    # Faust's own leader topic, made up front: made later, it would rebalance the group when seen.
    leader = faust_leader_topic(settings)
    assert (leader.name, leader.num_partitions, leader.replication_factor) == ("modwatch-__assignor-__leader", 1, 3)


def test_a_worker_on_every_address_tells_the_others_its_host_name_not_the_wildcard():
    settings = Settings.load(ROOT / "config", environ={})
    assert settings.canonical_url({}) is None  # 127.0.0.1: Faust's own http://127.0.0.1:6066 is right
    everywhere = dataclasses.replace(settings, web_host="0.0.0.0", web_port=7000)
    url = everywhere.canonical_url({})
    assert url.startswith("http://") and url.endswith(":7000") and "0.0.0.0" not in url
    assert url == f"http://{socket.getfqdn()}:7000"
    # NODE_CANONICAL_URL (Faust's setting, the Kubernetes manifests set it) wins.
    assert everywhere.canonical_url({"NODE_CANONICAL_URL": "http://modwatch-worker-1.peers:6066"}) is None
