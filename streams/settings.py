"""Worker settings: ``config/modwatch.yaml``, overridden by environment variables.

Environment variables win so that one config folder serves many workers (and
each test its own app id and topic prefix):

=======================  ===================================================
``MODWATCH_CONFIG_DIR``  folder with modwatch.yaml and the detector config
``MODWATCH_BROKER``      ``kafka://host:port[;host:port]``; ``KAFKA_BOOTSTRAP_SERVERS``
                         (``host:port,host:port``) is read when this is unset
``MODWATCH_APP_ID``      consumer group and table namespace
``MODWATCH_TOPIC_PREFIX`` topics are ``<prefix>.posts`` and so on
``MODWATCH_PARTITIONS``  partitions of topics modwatch creates
``MODWATCH_REPLICATION_FACTOR`` replicas of topics modwatch creates
``MODWATCH_WEB_PORT``    port of /metrics and the web API
``MODWATCH_WEB_HOST``    address it listens on (0.0.0.0 in a container)
``MODWATCH_STORE``       ``memory://`` or ``rocksdb://``
``MODWATCH_DATA_DIR``    where the worker keeps local state
``MODWATCH_SESSION_TIMEOUT_SECONDS`` how long the group waits for a silent worker
``MODWATCH_TICK_SECONDS`` how often deadlines are checked
``MODWATCH_EXPIRE_AFTER_DAYS`` when an unanswered request is closed as expired
``MODWATCH_REDELIVER_AFTER_MINUTES`` when an undelivered request is sent again
``MODWATCH_RECHECK_ALLOW_LOOPBACK`` 1 lets the re-check poller fetch from 127.0.0.1 (tests, simulator); 0 or unset: not
``MODWATCH_LOG_FORMAT`` json (one object per line) or text
``MODWATCH_LOG_LEVEL``   debug, info, warning, error
=======================  ===================================================

A variable is held to the same rule as the key it replaces (:data:`RULES`), and
a problem names it: ``environment MODWATCH_PARTITIONS: must be at least 1, not 0``.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from detectors.configfile import Problems, load_yaml

REPOSITORY_CONFIG = Path(__file__).resolve().parent.parent / "config"
# Listening on every address: no address another worker could use (Settings.canonical_url).
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})

TOPIC_NAMES = (
    "posts",
    "reports",
    "platform-status",
    "decisions",
    "item-events",
    "account-events",
    "campaign-events",
    "alerts",
    "takedown-requests",
    "ledger",
    "item-state",
    "account-state",
    "campaign-state",
    "hashbank",
    "watchlist",
    "deadletter",
)


def default_config_dir() -> Path:
    if "MODWATCH_CONFIG_DIR" in os.environ:
        return Path(os.environ["MODWATCH_CONFIG_DIR"])
    if (Path.cwd() / "config" / "modwatch.yaml").exists():
        return Path.cwd() / "config"
    return REPOSITORY_CONFIG


def broker_url(bootstrap_servers: str) -> str:
    """``host:9092,host2:9092`` -> ``kafka://host:9092;host2:9092``."""
    servers = [server.strip() for server in bootstrap_servers.split(",") if server.strip()]
    return "kafka://" + ";".join(server.removeprefix("kafka://") for server in servers)


def bootstrap_servers(broker: str) -> str:
    """The inverse of :func:`broker_url`, for plain aiokafka clients."""
    return ",".join(part.removeprefix("kafka://") for part in broker.split(";"))


@dataclass(frozen=True, slots=True)
class Rule:
    """What one setting accepts, from modwatch.yaml or from its environment variable alike."""

    kind: type  # str, int or float
    default: object
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None  # the value must be greater than this
    options: tuple[str, ...] = ()  # the only values allowed (compared without case for log_level)
    ignore_case: bool = False

    def parse(self, raw: str) -> object:
        """An environment value as the YAML value it replaces would be; unparsable text stays text."""
        if self.kind is str:
            return raw
        try:
            return int(raw)
        except ValueError:
            pass
        try:
            return float(raw)
        except ValueError:
            return raw

    def problem(self, value: object, shown: str) -> str | None:
        """What is wrong with ``value`` (shown as ``shown``), or None when it is acceptable."""
        if self.kind is str:
            if not isinstance(value, str):
                return f"must be text, not {shown}"
            if self.options:
                candidate = value.lower() if self.ignore_case else value
                if candidate not in self.options:
                    return f"{value!r} is not one of {', '.join(self.options)}"
            elif not value.strip():
                return "is empty"
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"must be {'a whole number' if self.kind is int else 'a number'}, not {shown}"
        if self.kind is int and value != int(value):
            return f"must be a whole number, not {shown}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g}, not {shown}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g}, not {shown}"
        if self.above is not None and value <= self.above:
            return f"must be more than {self.above:g}, not {shown}"
        return None


def _count(default: int) -> Rule:
    return Rule(int, default, minimum=1)


def _duration(default: float) -> Rule:
    # Zero would mean a timer that never waits or a request that expires as it is made.
    return Rule(float, default, above=0)


# Every key of modwatch.yaml, and the rule its MODWATCH_<KEY> variable is held to as well.
RULES: dict[str, Rule] = {
    "broker": Rule(str, "kafka://127.0.0.1:9092"),
    "app_id": Rule(str, "modwatch"),
    "topic_prefix": Rule(str, "modwatch"),
    "partitions": _count(4),
    "replication_factor": _count(1),
    # The topics' min.insync.replicas: a write is refused while fewer replicas are in sync.
    "min_insync_replicas": _count(1),
    "web_port": Rule(int, 6066, minimum=1, maximum=65535),
    "web_host": Rule(str, "127.0.0.1"),
    # The table stores Faust ships with; any other URL fails deep inside Faust at start-up.
    "store": Rule(str, "memory://", options=("memory://", "rocksdb://")),
    "data_dir": Rule(str, ".modwatch-data"),
    "session_timeout_seconds": _duration(30.0),
    "tick_seconds": _duration(30.0),
    "expire_after_days": _duration(30.0),
    "redeliver_after_minutes": _duration(30.0),
    "report_velocity_threshold": _count(5),
    "report_velocity_window_minutes": _duration(60.0),
    # Who reads the posts topic: "batched", the scan stage's own aiokafka consumer
    # (streams/agents/post_reader.py), or "faust", a Faust agent (streams/agents/scan.py).
    "scan_consumer": Rule(str, "batched", options=("batched", "faust")),
    "scan_batch_size": _count(500),
    # 0: each batch is whatever has arrived, without waiting for more.
    "scan_batch_seconds": Rule(float, 0.2, minimum=0),
    # A batch closes once no post has arrived for this long (streams/batching.py).
    "scan_idle_seconds": Rule(float, 0.01, minimum=0),
    # Processes that decode and hash a batch's images off the event loop; 0: one per core.
    "hash_processes": Rule(int, 0, minimum=0),
    "log_level": Rule(str, "info", options=("debug", "info", "warning", "error"), ignore_case=True),
    "log_format": Rule(str, "json", options=("json", "text")),
}


@dataclass(frozen=True, slots=True)
class Settings:
    config_dir: Path
    broker: str
    app_id: str
    topic_prefix: str
    partitions: int
    replication_factor: int
    min_insync_replicas: int
    web_port: int
    web_host: str
    store: str
    data_dir: Path
    session_timeout_seconds: float
    tick_seconds: float
    expire_after_days: float
    redeliver_after_minutes: float
    report_velocity_threshold: int
    report_velocity_window_minutes: float
    scan_consumer: str
    scan_batch_size: int
    scan_batch_seconds: float
    scan_idle_seconds: float
    hash_processes: int
    log_level: str
    log_format: str
    # Test and simulator setting, environment only: let the re-check poller fetch
    # from 127.0.0.1 (streams/poller.py refuses loopback otherwise).
    recheck_allow_loopback: bool = False

    def canonical_url(self, environ: Mapping[str, str] = os.environ) -> str | None:
        """The URL other workers reach this one at, to forward requests for items it owns; None: Faust's.

        Faust takes ``NODE_CANONICAL_URL`` when set, else ``http://<web_host>:<web_port>``: on a
        wildcard address that would be ``http://0.0.0.0:6066`` on every worker, and each would take
        every item for its own. There, this host's name stands in.
        """
        if environ.get("NODE_CANONICAL_URL") or self.web_host not in WILDCARD_HOSTS:
            return None
        return f"http://{socket.getfqdn()}:{self.web_port}"

    def topic(self, name: str) -> str:
        assert name in TOPIC_NAMES, name
        return f"{self.topic_prefix}.{name}"

    @classmethod
    def load(cls, config_dir: Path | None = None, environ: dict | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        config_dir = Path(config_dir or default_config_dir())
        problems = Problems()
        document = load_yaml(config_dir / "modwatch.yaml", problems)
        document.check_keys(dict.fromkeys(RULES))

        def value(key: str):
            rule = RULES[key]
            env_name = f"MODWATCH_{key.upper()}"
            if env_name in environ:
                raw = environ[env_name]
                found = rule.parse(raw)
                problem = rule.problem(found, raw if isinstance(found, (int, float)) else repr(raw))
                if problem:
                    problems.add(f"environment {env_name}: {problem}")
                    return rule.default
                return rule.kind(found)
            found = document.get((key,))
            if found is None:
                return rule.default
            problem = rule.problem(found, repr(found))
            if problem:
                document.problem((key,), problem)
                return rule.default
            return rule.kind(found)

        broker = value("broker")
        if "MODWATCH_BROKER" not in environ and environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            broker = broker_url(environ["KAFKA_BOOTSTRAP_SERVERS"])
        loopback = environ.get("MODWATCH_RECHECK_ALLOW_LOOPBACK", "")
        if loopback not in ("", "0", "1"):
            # "true" or "yes" would otherwise read as 0: refused, not guessed.
            problems.add(f"environment MODWATCH_RECHECK_ALLOW_LOOPBACK: must be 1 or 0, not {loopback!r}")
        fields = {key: value(key) for key in RULES if key != "broker"}
        if fields["min_insync_replicas"] > fields["replication_factor"]:
            # Every write would be refused: more replicas must be in sync than the topics have.
            message = (
                f"{fields['min_insync_replicas']} is more than replication_factor "
                f"{fields['replication_factor']}: every write would be refused"
            )
            if "MODWATCH_MIN_INSYNC_REPLICAS" in environ:
                problems.add(f"environment MODWATCH_MIN_INSYNC_REPLICAS: {message}")
            else:
                document.problem(("min_insync_replicas",), message)
        settings = cls(
            config_dir=config_dir,
            broker=broker,
            **dict(fields, data_dir=Path(fields["data_dir"])),
            recheck_allow_loopback=loopback == "1",
        )
        problems.raise_if_any()
        return settings
