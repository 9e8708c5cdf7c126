"""Repeated library warnings during an outage: one line per interval with a count (streams/logs.py)."""

from __future__ import annotations

import logging

from streams.logs import RepeatLimit


def record(name: str, message: str, *args, level=logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_the_same_library_error_passes_once_per_interval_then_says_how_many_were_left_out():
    now = [0.0]
    limit = RepeatLimit(interval_seconds=10, clock=lambda: now[0])
    passed = []
    for second in range(25):  # ten attempts a second for 25 s
        for attempt in range(10):
            now[0] = second + attempt / 10
            line = record("aiokafka.conn", "Unable connect to %r: %s", "127.0.0.1:9092", "refused")
            if limit.filter(line):
                passed.append(line.getMessage())
    assert len(passed) == 3
    assert passed[0] == "Unable connect to '127.0.0.1:9092': refused"
    assert passed[1] == "Unable connect to '127.0.0.1:9092': refused [99 more like this in the last 10 s]"


def test_different_messages_info_lines_and_modwatchs_own_lines_are_never_limited():
    limit = RepeatLimit(interval_seconds=10, clock=lambda: 0.0)
    assert limit.filter(record("aiokafka", "one"))
    assert limit.filter(record("aiokafka", "two"))
    assert not limit.filter(record("aiokafka", "one"))
    assert all(limit.filter(record("aiokafka", "info", level=logging.INFO)) for _ in range(5))
    assert all(limit.filter(record("modwatch.agents", "cannot handle %s", "x")) for _ in range(5))


def test_the_worker_logging_config_installs_the_limit():
    from streams.logs import logging_config

    config = logging_config("info", "json")
    assert config["handlers"]["stderr"]["filters"] == ["repeats"]
    assert config["filters"]["repeats"]["()"] == "streams.logs.RepeatLimit"
