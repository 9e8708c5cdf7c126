"""Structured logs: one JSON object per line, so that a log pipeline can index them.

Fields: ``ts`` (UTC, RFC 3339), ``level``, ``logger``, ``message``, and any
``extra={...}`` the caller passed (``platform``, ``request_id``, ``key``, ...).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(level: str, log_format: str) -> dict:
    formatter = (
        {"()": "streams.logs.JsonFormatter"}
        if log_format == "json"
        else {"format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"repeats": {"()": "streams.logs.RepeatLimit"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["repeats"]}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }


class RepeatLimit(logging.Filter):
    """Other libraries' repeated warnings and errors: one line per interval, with the count left out.

    During a broker outage aiokafka and Faust log every reconnection attempt
    (about 8,000 lines a minute). The first line of each kind passes; the same
    kind (logger and message template) again within the interval is counted
    instead, and the next line that passes says how many were left out. While
    a kind keeps repeating, its interval doubles each time it passes, up to
    ``max_interval_seconds``: a 3-minute outage is a handful of lines per kind,
    not one every 10 s. A kind that stopped repeating starts again at
    ``interval_seconds``. modwatch's own loggers are never limited: each of
    their lines is about one record or one request.
    """

    def __init__(self, interval_seconds: float = 10.0, clock=None, max_interval_seconds: float = 300.0):
        super().__init__()
        import time

        self.interval_seconds = interval_seconds
        self.max_interval_seconds = max(max_interval_seconds, interval_seconds)
        self.clock = clock or time.monotonic
        # kind -> (when it last passed, when it was last seen, left out since, its interval)
        self._kinds: dict[tuple[str, object], tuple[float, float, int, float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.name.startswith("modwatch"):
            return True
        kind = (record.name, record.msg)
        now = self.clock()
        passed_at, seen_at, left_out, interval = self._kinds.get(kind, (None, None, 0, self.interval_seconds))
        if passed_at is not None and now - passed_at < interval:
            self._kinds[kind] = (passed_at, now, left_out + 1, interval)
            return False
        if left_out:
            record.msg = f"{record.msg} [{left_out} more like this in the last {now - passed_at:.0f} s]"
        if seen_at is not None and now - seen_at < interval:
            interval = min(interval * 2, self.max_interval_seconds)  # still repeating: wait longer
        else:
            interval = self.interval_seconds  # new, or quiet for a whole interval
        self._kinds[kind] = (now, now, 0, interval)
        if len(self._kinds) > 10_000:  # messages built without a template: forget the oldest kinds
            self._kinds = dict(list(self._kinds.items())[-1000:])
        return True
