"""A replicated cluster (deploy/kafka/local.sh --brokers 3): a broker lost mid-stream, and two of three lost.

bench/cluster_drill.py runs both drills once, one after the other, on one run of traffic: two
workers as separate processes (own data folders and web ports), replication factor 3 and
min.insync.replicas 2, on three brokers and three controllers. The second worker joins while
posts flow before the drills and the first leaves after them. The tests below read that run.
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
    try:
        found.start()
        yield found
    finally:
        found.kill_all()


@pytest.fixture(scope="module")
def outcome(cluster, tmp_path_factory):
    return asyncio.run(cluster_drill.run_drills(cluster, tmp_path_factory.mktemp("drills")))


def rows_by_name(rows) -> dict[str, tuple[int, int, int]]:
    return {row.output.strip(): (row.causes, row.lost, row.duplicated) for row in rows}


def test_the_cluster_has_three_brokers_and_the_settings_of_a_production_one(cluster):
    brokers, _ = kafka_probe.metadata(cluster.bootstrap.split(",")[0], 5.0, topics=[])
    assert sorted(node_id for node_id, _, _ in brokers) == [1, 2, 3]
    configs = (cluster.data / "broker-1" / "server.properties").read_text().splitlines()
    for setting in ("default.replication.factor=3", "min.insync.replicas=2", "unclean.leader.election.enable=false"):
        assert setting in configs


def test_brokers_lost_mid_stream_lose_and_double_no_alert_request_or_ledger_transition(outcome):
    report = cluster_drill.report(outcome)
    assert not chaos.failed(outcome.rows), report
    counted = rows_by_name(outcome.rows)
    for output in ("detection alerts", "takedown requests", "ledger transitions"):
        assert counted[output][1:] == (0, 0), (output, report)
    assert counted["detection alerts"][0] >= 400 and counted["takedown requests"][0] >= 250, report
    assert counted["account requests"][0] >= 1, report


def test_a_broker_killed_mid_stream_leaves_both_workers_ready_and_says_so_in_a_few_lines(outcome):
    report = cluster_drill.report(outcome)
    marks = outcome.marks
    window = outcome.readiness.during(marks["leader lost"], marks["leader back"])
    assert set(window) == {"worker-a", "worker-b"}
    for name, answers in window.items():
        # Asked every half second (at most 2 s a question) through the loss, and ready every time.
        assert len(answers) >= (marks["leader back"] - marks["leader lost"]) / 2.5, (name, report)
        assert all(ready for _, ready, _ in answers), report
    for name, lines in outcome.loud_lines[("leader lost", "leader back")].items():
        assert len(lines) <= 40, (name, report)
        assert any("left the cluster" in line for line in lines), (name, report)


def test_two_brokers_of_three_lost_make_the_workers_not_ready_until_one_returns(outcome):
    report = cluster_drill.report(outcome)
    marks = outcome.marks
    assert marks["not ready"] - marks["two lost"] < 60, report
    for name, answers in outcome.readiness.during(marks["not ready"], marks["broker-2 back"]).items():
        assert answers and not any(ready for _, ready, _ in answers), (name, report)
        said = " ".join(" ".join(problems) for _, _, problems in answers)
        assert "writes refused" in said and "in-sync" in said, (name, report)
    for name, answers in outcome.readiness.during(marks["ready again"], marks["all back"]).items():
        assert answers and answers[-1][1], (name, report)
    assert cluster_drill.readiness_problems(outcome) == [], report


def test_the_launcher_refuses_a_bad_broker_count_or_node_with_exit_2(tmp_path):
    env = LocalCluster(tmp_path / "never-started").env  # refused before anything starts
    for arguments in (["--brokers", "x", "start"], ["--brokers", "0", "start"]):
        refused = subprocess.run([str(LAUNCHER), *arguments], env=env, capture_output=True, text=True)
        assert refused.returncode == 2 and "whole number" in refused.stderr
    for command in ("node-kill", "node-stop", "node-start", "node-pid"):
        for node in ("broker-4", "controller-9", "zookeeper-1"):
            refused = subprocess.run([str(LAUNCHER), command, node], env=env, capture_output=True, text=True)
            assert refused.returncode == 2 and node in refused.stderr, (command, refused.stderr)
    assert not (tmp_path / "never-started").exists()
