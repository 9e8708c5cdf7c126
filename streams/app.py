"""The Faust application, configured from :mod:`streams.settings`.

Agents, tables and web views live in their own modules and register
themselves on this app when imported; :func:`streams.worker.run` imports them.
"""

from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import kafka_auth
from streams.settings import Settings

settings = Settings.load()
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class IdempotentProducer(faust_aiokafka.Producer):
    """Faust's producer with idempotence on outside transactions too (Faust sets it only inside one).

    A send the broker wrote but whose acknowledgement was lost (a leader killed mid-request) is
    retried, and without idempotence the retry writes the record twice; with it, the broker
    drops the retry by its producer id and sequence number, and keeps each partition's order.
    """

    def _settings_extra(self):
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


faust_aiokafka.Transport.Producer = IdempotentProducer

app = faust.App(
    settings.app_id,
    broker=settings.broker,
    store=settings.store,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication_factor,
    web_port=settings.web_port,
    web_host=settings.web_host,
    # How the other workers reach this one (views forward requests for items it owns).
    **({"canonical_url": url} if (url := settings.canonical_url()) else {}),
    datadir=str(settings.data_dir / settings.app_id),
    # Outputs must reach every in-sync replica (at least min_insync_replicas of them) before the
    # input offset is committed; IdempotentProducer above adds idempotence.
    producer_acks=-1,
    # A worker that restarts reads its tables back from the changelog topics;
    # no table state lives only on local disk.
    table_standby_replicas=0,
    web_in_thread=False,
    # Faust's /table/<name>/<key> and /router views would show item state to
    # anyone who reaches the port, without authentication: off.
    web_router_enabled=False,
    # POST /match takes an image as base64 (streams/web_lists.py); every view checks its own
    # limit on top of this one (aiohttp's default is 1 MiB).
    web_application_options={"client_max_size": 24 * 1024 * 1024},
    web_tables_enabled=False,
    # A post may carry a 10 MiB image (13.4 MiB as base64): see deploy/kafka/local.sh.
    producer_max_request_size=MAX_MESSAGE_BYTES,
    consumer_max_fetch_size=MAX_MESSAGE_BYTES,
    broker_session_timeout=settings.session_timeout_seconds,
    # Kafka asks for heartbeats at a third of the session timeout at most.
    broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
    autodiscover=False,
    # SASL from the environment only (streams/kafka_auth.py); None: plaintext, no authentication.
    broker_credentials=kafka_auth.credentials(),
)
