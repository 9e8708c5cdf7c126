"""Kafka authentication: SASL (SCRAM-SHA-256/512 or PLAIN) over plaintext or TLS.

Configured from the environment only, never from YAML (secrets stay out of files):

``MODWATCH_KAFKA_SASL_MECHANISM``  SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (unset: no authentication)
``MODWATCH_KAFKA_USERNAME``        the SASL user
``MODWATCH_KAFKA_PASSWORD``        its password
``MODWATCH_KAFKA_CA_FILE``         a CA bundle: connect with TLS (SASL_SSL), verifying the broker

PLAIN sends the password itself, so it is refused without TLS. The same
credentials serve the Faust app and every client modwatch opens itself (topic
creation, the hash-bank and watchlist followers, the offset probe, the CLI).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class KafkaAuthError(ValueError):
    """The environment's Kafka authentication settings are incomplete or unsafe."""


def credentials(environ: Mapping[str, str] = os.environ):
    """Faust's SASLCredentials for the environment, or None when no mechanism is set."""
    mechanism = environ.get("MODWATCH_KAFKA_SASL_MECHANISM", "").strip().upper()
    if not mechanism:
        return None
    problems = []
    if mechanism not in MECHANISMS:
        problems.append(f"MODWATCH_KAFKA_SASL_MECHANISM: {mechanism!r} is not one of {', '.join(MECHANISMS)}")
    username, password = environ.get("MODWATCH_KAFKA_USERNAME", ""), environ.get("MODWATCH_KAFKA_PASSWORD", "")
    if not username:
        problems.append("MODWATCH_KAFKA_USERNAME: required with MODWATCH_KAFKA_SASL_MECHANISM")
    if not password:
        problems.append("MODWATCH_KAFKA_PASSWORD: required with MODWATCH_KAFKA_SASL_MECHANISM")
    ca_file = environ.get("MODWATCH_KAFKA_CA_FILE", "")
    if mechanism == "PLAIN" and not ca_file:
        problems.append(
            "MODWATCH_KAFKA_SASL_MECHANISM: PLAIN sends the password in clear; set MODWATCH_KAFKA_CA_FILE (TLS)"
        )
    if ca_file and not os.path.isfile(ca_file):
        problems.append(f"MODWATCH_KAFKA_CA_FILE: {ca_file!r} is not a file")
    if problems:
        raise KafkaAuthError("; ".join(problems))
    from faust.auth import SASLCredentials

    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    return SASLCredentials(username=username, password=password, ssl_context=context, mechanism=mechanism)


def client_options(environ: Mapping[str, str] = os.environ) -> dict:
    """Keyword arguments for aiokafka clients (producer, consumer, admin) with the same credentials."""
    found = credentials(environ)
    if found is None:
        return {}
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    return dict(credentials_to_aiokafka_auth(found))


async def partitions(address: str, options: dict, topics: list[str], timeout: float) -> list[tuple]:
    """:func:`streams.kafka_probe.metadata`'s partitions ``(topic, partition, leader, replicas, in_sync)``
    of ``topics``, through aiokafka's client, which speaks SASL (the standard-library probe does not)."""
    import asyncio

    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=address, request_timeout_ms=int(timeout * 1000), **options)
    try:
        # bootstrap() asks for no topic's metadata; fetch_all_metadata() asks for every topic's.
        cluster = await asyncio.wait_for(_all_metadata(client), timeout=timeout)
    except TimeoutError as error:
        raise OSError(f"no metadata answer within {timeout:g} s") from error
    finally:
        await client.close()
    return [
        (topic, index, found.leader, tuple(found.replicas), tuple(found.isr))
        for topic in topics
        for index, found in sorted((cluster._partitions.get(topic) or {}).items())  # no public accessor for the ISR
    ]


async def _all_metadata(client):
    await client.bootstrap()
    return await client.fetch_all_metadata()
