"""Kafka SASL/SCRAM: settings from the environment, and a worker on a broker that demands them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import urllib.error
import urllib.request

import orjson
import pytest

from streams import kafka_auth, kafka_probe
from tests.conftest import LAUNCHER, WorkerProcess, free_port_pair, post

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"
USER, PASSWORD = "modwatch", "a-scram-password-for-tests"


def test_no_mechanism_means_no_authentication_and_an_incomplete_or_unsafe_setting_is_refused(tmp_path):
    assert kafka_auth.credentials({}) is None and kafka_auth.client_options({}) == {}
    options = kafka_auth.client_options(
        {
            "MODWATCH_KAFKA_SASL_MECHANISM": "scram-sha-512",
            "MODWATCH_KAFKA_USERNAME": USER,
            "MODWATCH_KAFKA_PASSWORD": PASSWORD,
        }
    )
    assert options["security_protocol"] == "SASL_PLAINTEXT" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == USER and options["sasl_plain_password"] == PASSWORD
    with pytest.raises(kafka_auth.KafkaAuthError) as raised:
        kafka_auth.credentials(
            {
                "MODWATCH_KAFKA_SASL_MECHANISM": "PLAIN",
                "MODWATCH_KAFKA_USERNAME": USER,
                "MODWATCH_KAFKA_CA_FILE": str(tmp_path / "missing.pem"),
            }
        )
    message = str(raised.value)
    assert "MODWATCH_KAFKA_PASSWORD: required" in message and "missing.pem' is not a file" in message
    with pytest.raises(kafka_auth.KafkaAuthError, match="PLAIN sends the password in clear"):
        kafka_auth.credentials(
            {
                "MODWATCH_KAFKA_SASL_MECHANISM": "PLAIN",
                "MODWATCH_KAFKA_USERNAME": USER,
                "MODWATCH_KAFKA_PASSWORD": PASSWORD,
            }
        )


async def _round_trip(bootstrap: str, prefix: str, options: dict) -> dict:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **options)
    await producer.start()
    try:
        key, value = post("x", "s1", VIOLATING)
        await producer.send_and_wait(f"{prefix}.posts", key=key, value=value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        f"{prefix}.takedown-requests",
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        **options,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=60)
        return orjson.loads(record.value)
    finally:
        await consumer.stop()


@pytest.mark.kafka
def test_a_worker_with_scram_credentials_works_on_a_broker_that_demands_them(worker_env, tmp_path):
    port = free_port_pair()
    broker_env = dict(
        os.environ,
        MODWATCH_KAFKA_PORT=str(port),
        MODWATCH_KAFKA_DATA=str(tmp_path / "broker"),
        MODWATCH_KAFKA_SCRAM_USER=USER,
        MODWATCH_KAFKA_SCRAM_PASSWORD=PASSWORD,
    )
    subprocess.run([str(LAUNCHER), "start"], env=broker_env, check=True, capture_output=True)
    sasl = f"127.0.0.1:{port + 2}"
    auth = {"MODWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "MODWATCH_KAFKA_USERNAME": USER}
    env = dict(
        worker_env,
        MODWATCH_BROKER=f"kafka://{sasl}",
        KAFKA_BOOTSTRAP_SERVERS=sasl,
        MODWATCH_KAFKA_PASSWORD=PASSWORD,
        **auth,
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.start()
        request = asyncio.run(_round_trip(sasl, env["MODWATCH_TOPIC_PREFIX"], kafka_auth.client_options(env)))
        assert request["post_id"] == "s1"
        deadline = time.monotonic() + 20
        while True:  # readiness probes the broker through SASL too
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{env['MODWATCH_WEB_PORT']}/readyz", timeout=5) as answer:
                    assert answer.status == 200
                    break
            except urllib.error.HTTPError:
                assert time.monotonic() < deadline, "never ready over SASL"
                time.sleep(1)
        # Readiness reads each partition's in-sync replicas through SASL too: one broker, so one replica.
        options = kafka_auth.client_options(env)
        topics = [f"{env['MODWATCH_TOPIC_PREFIX']}.posts", f"{env['MODWATCH_TOPIC_PREFIX']}.ledger"]
        found = asyncio.run(kafka_auth.partitions(sasl, options, topics, 10.0))
        assert [(topic, index) for topic, index, *_ in found] == [(topic, n) for topic in topics for n in range(4)]
        assert all(leader == 1 and in_sync == (1,) for _, _, leader, _, in_sync in found), found
        assert len(kafka_probe.short_of_replicas(found, 2)) == 8  # what a min_insync_replicas of 2 would refuse
        # Without the right password nothing gets in.
        wrong = kafka_auth.client_options(dict(auth, MODWATCH_KAFKA_PASSWORD="not-the-password"))
        with pytest.raises(Exception, match="Unable to bootstrap|SaslAuthenticationFailed"):
            asyncio.run(_round_trip(sasl, env["MODWATCH_TOPIC_PREFIX"], wrong))
    finally:
        worker.stop()
        subprocess.run([str(LAUNCHER), "stop"], env=broker_env, check=False, capture_output=True)
