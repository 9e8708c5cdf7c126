"""Faust's sensor for /metrics, cut to what the dashboards read: no work per stream event.

Faust's ``PrometheusMonitor`` updates a dozen series on every stream event,
table read and write, and record sent (label lookups, a latency histogram per
event and per record): about 9 % of a busy worker's CPU (bench/RESULTS.md).
modwatch measures its own stages (``modwatch_stage_latency_seconds`` and the
rest, streams/metrics.py), so this monitor keeps only the counters of records
received and sent per topic that the pipeline-health dashboard plots, plus
Faust's per-commit, per-rebalance and per-assignment series, which cost
nothing per record.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import PrometheusMonitor


class LeanPrometheusMonitor(PrometheusMonitor):
    """``PrometheusMonitor`` without per-event, per-table-key and per-record latency bookkeeping."""

    def on_message_in(self, tp, offset: int, message) -> None:
        self._metrics.messages_received.inc()
        self._metrics.messages_received_per_topics.labels(topic=tp.topic).inc()

    def on_stream_event_in(self, tp, offset: int, stream, event) -> None:
        # Faust's consumer reads this to tell a stalled stream from an idle one: without it,
        # every partition with records waiting logs "Stream has not started processing".
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(self, tp, offset: int, stream, event, state=None) -> None:
        return None

    def on_message_out(self, tp, offset: int, message) -> None:
        return None

    def on_table_get(self, table, key: Any) -> None:
        return None

    def on_table_set(self, table, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table, key: Any) -> None:
        return None

    def on_send_initiated(self, producer, topic: str, message, keysize: int, valsize: int) -> None:
        self._metrics.topic_messages_sent.labels(topic=f"topic.{topic}").inc()

    def on_send_completed(self, producer, state: Any, metadata) -> None:
        self._metrics.total_sent_messages.inc()

    def on_send_error(self, producer, exc: BaseException, state: Any) -> None:
        self._metrics.total_error_messages_sent.inc()
        Monitor.on_send_error(self, producer, exc, state)


def install(app) -> None:
    """Replace the monitor ``setup_prometheus_sensors`` installed with the lean one, same metrics."""
    app.monitor = LeanPrometheusMonitor(metrics=app.monitor._metrics)
