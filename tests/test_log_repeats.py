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
    # At 0 s, 10 s, then 30 s (the interval doubles while the error repeats)
    assert len(passed) == 2
    assert passed[0] == "Unable connect to '127.0.0.1:9092': refused"
    assert passed[1] == "Unable connect to '127.0.0.1:9092': refused [99 more like this in the last 10 s]"


def test_a_kind_that_keeps_repeating_passes_less_and_less_often_then_starts_again():
    now = [0.0]
    limit = RepeatLimit(interval_seconds=10, max_interval_seconds=60, clock=lambda: now[0])
    passed_at = []
    for tenth in range(3000):  # ten a second for 300 s: a 5-minute outage
        now[0] = tenth / 10
        if limit.filter(record("aiokafka", "Unable to update metadata from %s", "[1]")):
            passed_at.append(now[0])
    # Intervals 10, 20, 40, then 60 s (the cap): 0, 10, 30, 70, 130, 190, 250.
    assert passed_at == [0.0, 10.0, 30.0, 70.0, 130.0, 190.0, 250.0]
    # Quiet for longer than the interval: the next one passes, and the interval is back to 10 s.
    now[0] = 400.0
    assert limit.filter(record("aiokafka", "Unable to update metadata from %s", "[1]"))
    now[0] = 405.0
    assert not limit.filter(record("aiokafka", "Unable to update metadata from %s", "[1]"))
    now[0] = 411.0
    line = record("aiokafka", "Unable to update metadata from %s", "[1]")
    assert limit.filter(line)
    assert line.getMessage() == "Unable to update metadata from [1] [1 more like this in the last 11 s]"


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
