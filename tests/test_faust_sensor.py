"""streams/faust_sensor.py: the dashboards' per-topic counters, and nothing per stream event."""

from __future__ import annotations

from types import SimpleNamespace

from faust.sensors.prometheus import FaustMetrics
from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.faust_sensor import LeanPrometheusMonitor


def sample(registry: CollectorRegistry, name: str, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_records_in_and_out_are_counted_per_topic_and_stream_events_cost_nothing():
    registry = CollectorRegistry()
    monitor = LeanPrometheusMonitor(metrics=FaustMetrics.create(registry, "modwatch_faust"))
    tp = TP("modwatch.posts", 2)
    for offset in range(3):
        monitor.on_message_in(tp, offset, SimpleNamespace())
        monitor.on_stream_event_in(tp, offset, None, None)
        monitor.on_stream_event_out(tp, offset, None, None, None)
        monitor.on_message_out(tp, offset, SimpleNamespace())
    monitor.on_table_get(None, "x:1")
    monitor.on_table_set(None, "x:1", {})
    state = monitor.on_send_initiated(None, "modwatch.item-events", None, 3, 10)
    monitor.on_send_completed(None, state, None)
    assert sample(registry, "modwatch_faust_messages_received_total") == 3
    assert sample(registry, "modwatch_faust_messages_received_per_topic_total", topic="modwatch.posts") == 3
    assert sample(registry, "modwatch_faust_topic_messages_sent_total", topic="topic.modwatch.item-events") == 1
    assert sample(registry, "modwatch_faust_total_sent_messages_total") == 1
    # Nothing per event: no runtime histogram, no table operations, no per-record send latency.
    assert sample(registry, "modwatch_faust_events_runtime_ms_count") == 0
    assert sample(registry, "modwatch_faust_total_events_total") == 0
    assert monitor.events_total == 0 and monitor.messages_received_total == 0


def test_the_worker_uses_it():
    from streams import web  # noqa: F401 - installs the sensor
    from streams.app import app

    assert isinstance(app.monitor, LeanPrometheusMonitor)


def test_a_stream_event_marks_its_partition_active_for_faust_s_stall_check():
    """Faust's consumer logs "Stream has not started processing" for a partition with records
    waiting and no inbound time: without this, every busy partition (issue 16: ~170 error lines a minute)."""
    from time import monotonic

    from faust.sensors.prometheus import FaustMetrics

    monitor = LeanPrometheusMonitor(metrics=FaustMetrics.create(CollectorRegistry(), "modwatch_faust"))
    tp = TP("modwatch.item-events", 0)
    assert tp not in monitor.stream_inbound_time
    before = monotonic()
    monitor.on_stream_event_in(tp, 0, None, None)
    assert before <= monitor.stream_inbound_time[tp] <= monotonic()
