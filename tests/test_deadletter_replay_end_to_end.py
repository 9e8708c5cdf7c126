"""``modwatch deadletter list|replay`` against the real broker: a refused post, the config fixed, replayed
from the dead letter's own copy after the source record is gone."""

from __future__ import annotations

import shutil
import subprocess
import sys

import orjson
import pytest

from tests.conftest import ROOT, consume, post, produce

pytestmark = pytest.mark.kafka


def delete_records_before(bootstrap: str, topic: str, partition: int, offset: int) -> None:
    """What retention does: the partition's records before ``offset`` are gone."""
    import asyncio

    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.records_to_delete import RecordsToDelete

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_records({TopicPartition(topic, partition): RecordsToDelete(offset)}, timeout_ms=10_000)
        finally:
            await admin.close()

    asyncio.run(delete())


VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"


def test_a_post_refused_for_its_platform_is_processed_once_the_platform_is_configured_and_replayed(
    worker_env, start_worker, kafka_bootstrap, tmp_path
):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]

    def modwatch(env, *arguments):
        command = [sys.executable, "-m", "streams.cli", *arguments]
        return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)

    worker = start_worker()
    produce(kafka_bootstrap, f"{prefix}.posts", [post("mastodon", "m1", VIOLATING), (b"x:bad", b"{")])
    consume(kafka_bootstrap, f"{prefix}.deadletter", expect=2, timeout=30, settle=0.5)
    listed = modwatch(worker_env, "deadletter", "list", "--reason", "unknown_platform")
    [letter] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert (letter["key"], letter["field"], letter["topic"]) == ("mastodon:m1", "platform", f"{prefix}.posts")
    assert "raw" not in letter and "raw_whole" not in letter
    assert worker.stop() == 0
    # Past the input topic's retention: the source record is gone, the dead letter's copy replays.
    delete_records_before(kafka_bootstrap, letter["topic"], letter["partition"], letter["offset"] + 1)

    # The operator adds the platform, restarts the worker, and replays what was refused for it.
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    platforms = config / "platforms.yaml"
    platforms.write_text(platforms.read_text().replace("platforms:\n", "platforms:\n  mastodon: {name: Mastodon}\n", 1))
    fixed = dict(worker_env, MODWATCH_CONFIG_DIR=str(config))
    start_worker(fixed)
    replayed = modwatch(fixed, "deadletter", "replay", "--reason", "unknown_platform")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 of 1" in replayed.stderr
    [(key, request)] = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=1, timeout=30, settle=1.0)
    assert key == "mastodon:m1" and request["platform"] == "mastodon"
    # The malformed record was not selected, and is still only a dead letter.
    letters = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=2, timeout=10, settle=1.0)
    assert len(letters) == 2
