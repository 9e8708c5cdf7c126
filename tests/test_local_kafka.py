"""deploy/kafka/local.sh: idempotent start, clean stop, nothing written outside its data folder."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LAUNCHER, ROOT, free_port_pair

pytestmark = pytest.mark.kafka


def _files(folder: Path, skip: tuple[Path, ...] = ()) -> set[Path]:
    found = set()
    for path in folder.rglob("*"):
        if any(path == excluded or excluded in path.parents for excluded in skip):
            continue
        found.add(path)
    return found


def _broker_processes(data: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended while we looked
        if "kafka.Kafka" in args and str(data) in args:
            found.append(args)
    return found


def _session_temp(base: Path) -> Path:
    return base.parent if base.name.startswith("popen-gw") else base


def test_start_twice_then_stop_leaves_no_process_and_no_stray_files(tmp_path, tmp_path_factory):
    port = free_port_pair()
    data = tmp_path / "broker-data"
    env = dict(os.environ, MODWATCH_KAFKA_PORT=str(port), MODWATCH_KAFKA_DATA=str(data))
    deploy = LAUNCHER.parent
    watched = {
        deploy: (deploy / ".cache", data),
        # The session's own brokers and workers live under pytest's base temp folder: under
        # xdist, one per process (popen-gwN), whose others may stop their broker meanwhile.
        Path("/tmp"): (_session_temp(tmp_path_factory.getbasetemp()),),
    }
    before = {folder: _files(folder, skip) for folder, skip in watched.items() if folder.exists()}

    first = subprocess.run([str(LAUNCHER), "start"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "ready on" in first.stderr
    second = subprocess.run([str(LAUNCHER), "start"], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stderr
    assert len(_broker_processes(data)) == 1

    status = subprocess.run([str(LAUNCHER), "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0 and "answering" in status.stderr

    stop = subprocess.run([str(LAUNCHER), "stop"], env=env, capture_output=True, text=True)
    assert stop.returncode == 0, stop.stderr
    assert _broker_processes(data) == []
    stopped = subprocess.run([str(LAUNCHER), "status"], env=env, capture_output=True, text=True)
    assert stopped.returncode == 3 and "not running" in stopped.stderr

    assert (data / "kafka.log").exists() and (data / "storage" / "meta.properties").exists()
    after = {folder: _files(folder, skip) for folder, skip in watched.items() if folder.exists()}
    for folder in before:
        # Other processes on a shared machine may write to /tmp; a stray file of
        # ours would carry the broker's name or port.
        new = {
            path for path in after[folder] - before[folder] if "kafka" in path.name.lower() or str(port) in path.name
        }
        assert new == set(), f"files left outside the data folder: {sorted(new)}"


def test_the_default_brokers_controller_leaves_alertmanagers_port_free():
    """deploy/prometheus/prometheus.yml sends alerts to 127.0.0.1:9093, Alertmanager's default port."""
    alertmanager = re.search(
        r'targets: \["127\.0\.0\.1:(\d+)"\]', (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODWATCH_KAFKA_")}

    def ports(**extra) -> dict[str, int]:
        said = subprocess.run([str(LAUNCHER), "ports"], env=dict(env, **extra), capture_output=True, text=True)
        words = said.stdout.split()
        return {name: int(value) for name, value in zip(words[::2], words[1::2], strict=True)}

    default = ports()
    assert default["client"] == 9092 and default["controller"] != int(alertmanager.group(1))
    assert len(set(default.values())) == 3
    assert ports(MODWATCH_KAFKA_PORT="20000") == {"client": 20000, "controller": 20001, "sasl": 20002}
    assert ports(MODWATCH_KAFKA_CONTROLLER_PORT="31000")["controller"] == 31000
