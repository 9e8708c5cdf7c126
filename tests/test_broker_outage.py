"""A broker of the worker's own, stopped for 3 minutes under it: readiness drops, the log stays
quiet (fewer than 100 error lines), and everything resumes. In a file of its own so that the
test processes can run it beside the other broker tests (it waits 3 minutes)."""

from __future__ import annotations

import collections
import time

import pytest

from tests.conftest import WorkerProcess, consume, post, produce

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"


def wave(start: int, count: int):
    return [post("x", f"r{n}", VIOLATING) for n in range(start, start + count)]


OUTAGE_SECONDS = 180


def error_records(lines: list[str]) -> list[dict]:
    """The worker's JSON log records at error level or above (a line that is not JSON counts as one)."""
    import orjson

    records = []
    for line in lines:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = {"level": "error", "message": f"not a JSON log line: {line[:200]}"}
        if record.get("level") in ("error", "critical"):
            records.append(record)
    return records


def test_the_worker_rides_out_a_3_minute_broker_outage_quietly(worker_env, tmp_path):
    """A broker of its own, stopped for 3 minutes under a running worker: readiness drops, fewer than
    100 error lines, then all resumes."""
    import os
    import subprocess
    import urllib.error
    import urllib.request

    import orjson

    from tests.conftest import LAUNCHER, free_port_pair

    port = free_port_pair()
    broker_env = dict(os.environ, MODWATCH_KAFKA_PORT=str(port), MODWATCH_KAFKA_DATA=str(tmp_path / "broker"))
    subprocess.run([str(LAUNCHER), "start"], env=broker_env, check=True, capture_output=True)
    bootstrap = f"127.0.0.1:{port}"
    env = dict(worker_env, MODWATCH_BROKER=f"kafka://{bootstrap}", KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    worker = WorkerProcess(env, tmp_path / "worker.log")

    def ready() -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{env['MODWATCH_WEB_PORT']}/readyz", timeout=5) as answer:
                return answer.status, orjson.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read())

    def wait_ready(status: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, body = ready()
            if code == status:
                return body
            time.sleep(1)
        raise AssertionError(f"/readyz never answered {status}: {ready()}")

    try:
        worker.start()
        wait_ready(200, 30)
        produce(bootstrap, f"{prefix}.posts", wave(0, 10))
        assert len(consume(bootstrap, f"{prefix}.takedown-requests", expect=10, settle=0.5)) == 10

        subprocess.run([str(LAUNCHER), "stop"], env=broker_env, check=True, capture_output=True)
        stopped_at = time.monotonic()
        log_before = len(worker.log().splitlines())
        outage = wait_ready(503, 5)  # issue 13: not ready within 5 s of the broker going away
        assert any("broker not reachable" in problem for problem in outage["problems"])
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
        assert worker.alive()
        outage_lines = worker.log().splitlines()[log_before:]
        errors = error_records(outage_lines)
        # It was ~24,000 lines in 3 minutes (issue 16): each kind of library error passes once per
        # interval, with a count of those left out, and the interval doubles while it repeats.
        kinds = collections.Counter(f"{record.get('logger')}: {record.get('message', '')[:100]}" for record in errors)
        assert len(errors) < 100, f"{len(errors)} error lines in a {OUTAGE_SECONDS} s outage:\n" + "\n".join(
            f"{count} x {kind}" for kind, count in kinds.most_common(30)
        )
        assert len(outage_lines) < 600, "\n".join(outage_lines[:40])
        subprocess.run([str(LAUNCHER), "start"], env=broker_env, check=True, capture_output=True)

        wait_ready(200, 90)
        produce(bootstrap, f"{prefix}.posts", wave(10, 10) + wave(0, 5))
        requests = consume(bootstrap, f"{prefix}.takedown-requests", expect=20, timeout=90, settle=3.0)
        assert sorted(key for key, _ in requests) == sorted(f"x:r{n}" for n in range(20))
    finally:
        worker.stop()
        subprocess.run([str(LAUNCHER), "stop"], env=broker_env, check=False, capture_output=True)
