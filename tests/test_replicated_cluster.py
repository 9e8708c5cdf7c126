"""A replicated cluster (deploy/kafka/local.sh --brokers 3): a broker lost mid-stream, and two of three lost.

Both drills are bench/cluster_drill.py's, with two workers as separate processes (own data
folders and web ports), replication factor 3 and min.insync.replicas 2, on a cluster of three
brokers and three controllers that the tests of this file share (each drill leaves it whole).
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from bench import chaos, cluster_drill
from streams import kafka_probe
from streams.processes import LocalCluster
from tests.conftest import LAUNCHER

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    found = LocalCluster(tmp_path_factory.mktemp("cluster"))
    found.start()
    try:
        yield found
    finally:
        found.stop()


def rows_by_name(rows) -> dict[str, tuple[int, int, int]]:
    return {row.output.strip(): (row.causes, row.lost, row.duplicated) for row in rows}


def test_the_cluster_has_three_brokers_and_creates_topics_with_three_replicas_and_two_in_sync(cluster):
    brokers, _ = kafka_probe.metadata(cluster.bootstrap.split(",")[0], 5.0, topics=[])
    assert sorted(node_id for node_id, _, _ in brokers) == [1, 2, 3]
    configs = (cluster.data / "broker-1" / "server.properties").read_text().splitlines()
    for setting in ("default.replication.factor=3", "min.insync.replicas=2", "unclean.leader.election.enable=false"):
        assert setting in configs


def test_a_broker_killed_mid_stream_loses_and_doubles_nothing_and_the_workers_stay_ready(cluster, tmp_path):
    outcome = asyncio.run(cluster_drill.leader_loss(cluster, tmp_path))
    report = cluster_drill.report(outcome)
    assert not chaos.failed(outcome.rows), report
    counted = rows_by_name(outcome.rows)
    assert counted["detection alerts"][0] >= 200 and counted["takedown requests"][0] >= 150, report
    assert counted["ledger transitions"][1:] == (0, 0), report

    # Two of three replicas stay in sync: writes go on, and no worker ever says not-ready.
    window = outcome.readiness.during(outcome.marks["fault"], outcome.marks["healed"])
    assert set(window) == {"worker-a", "worker-b"}
    for name, answers in window.items():
        assert len(answers) >= 40, (name, report)  # asked every half second through the loss
        assert all(ready for _, ready, _ in answers), report

    # What happened, in a few lines: which broker left and came back, without a flood of client errors.
    for name, lines in outcome.loud_lines.items():
        assert len(lines) <= 40, (name, report)
        assert any("left the cluster" in line for line in lines), (name, report)


def test_two_brokers_of_three_lost_make_the_workers_not_ready_and_lose_nothing_when_one_returns(cluster, tmp_path):
    outcome = asyncio.run(cluster_drill.two_down(cluster, tmp_path))
    report = cluster_drill.report(outcome)
    assert not chaos.failed(outcome.rows), report
    assert rows_by_name(outcome.rows)["takedown requests"][0] >= 60, report  # 40 % of 200 posts violate

    # Not ready while writes are refused, saying why; ready again once a second replica is back.
    lost = outcome.readiness.during(outcome.marks["not ready"], outcome.marks["broker-2 back"])
    for name, answers in lost.items():
        assert answers and not any(ready for _, ready, _ in answers), (name, report)
        problems = " ".join(" ".join(found) for _, _, found in answers)
        assert "writes refused" in problems and "in-sync" in problems, (name, report)
    after = outcome.readiness.during(outcome.marks["healed"], float("inf"))
    for name, answers in after.items():
        assert answers and answers[-1][1], (name, report)


def test_the_launcher_refuses_a_bad_broker_count_or_node_with_exit_2(cluster):
    for arguments in (["--brokers", "x", "start"], ["--brokers", "0", "start"]):
        refused = subprocess.run([str(LAUNCHER), *arguments], env=cluster.env, capture_output=True, text=True)
        assert refused.returncode == 2 and "whole number" in refused.stderr
    for node in ("broker-4", "controller-9", "zookeeper-1"):
        refused = subprocess.run([str(LAUNCHER), "node-kill", node], env=cluster.env, capture_output=True, text=True)
        assert refused.returncode == 2 and node in refused.stderr, refused.stderr
