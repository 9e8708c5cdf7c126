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
``MODWATCH_RECHECK_ALLOW_LOOPBACK`` 1 lets the re-check poller fetch from 127.0.0.1 (tests, simulator)
``MODWATCH_LOG_FORMAT`` json (one object per line) or text
``MODWATCH_LOG_LEVEL``   debug, info, warning, error
=======================  ===================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from detectors.configfile import Problems, load_yaml

REPOSITORY_CONFIG = Path(__file__).resolve().parent.parent / "config"

TOPIC_NAMES = (
    "posts",
    "reports",
    "platform-status",
    "decisions",
    "item-events",
    "account-events",
    "campaign-events",
    "deliveries",
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
class Settings:
    config_dir: Path
    broker: str
    app_id: str
    topic_prefix: str
    partitions: int
    replication_factor: int
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
    scan_batch_size: int
    scan_batch_seconds: float
    log_level: str
    log_format: str
    # Test and simulator setting, environment only: let the re-check poller fetch
    # from 127.0.0.1 (streams/poller.py refuses loopback otherwise).
    recheck_allow_loopback: bool = False

    def topic(self, name: str) -> str:
        assert name in TOPIC_NAMES, name
        return f"{self.topic_prefix}.{name}"

    @classmethod
    def load(cls, config_dir: Path | None = None, environ: dict | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        config_dir = Path(config_dir or default_config_dir())
        problems = Problems()
        document = load_yaml(config_dir / "modwatch.yaml", problems)

        def value(key: str, kind, default):
            env_name = f"MODWATCH_{key.upper()}"
            if env_name in environ:
                raw = environ[env_name]
                try:
                    return kind(raw)
                except ValueError:
                    problems.add(f"environment {env_name}: {raw!r} is not a valid {kind.__name__}")
                    return default
            if kind is str:
                return document.text((key,), default=default)
            if kind is int:
                return int(document.number((key,), default=default, minimum=1))
            return document.number((key,), default=default, minimum=0)

        broker = value("broker", str, "kafka://127.0.0.1:9092")
        if "MODWATCH_BROKER" not in environ and environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            broker = broker_url(environ["KAFKA_BOOTSTRAP_SERVERS"])
        settings = cls(
            config_dir=config_dir,
            broker=broker,
            app_id=value("app_id", str, "modwatch"),
            topic_prefix=value("topic_prefix", str, "modwatch"),
            partitions=value("partitions", int, 4),
            replication_factor=value("replication_factor", int, 1),
            web_port=value("web_port", int, 6066),
            web_host=value("web_host", str, "127.0.0.1"),
            store=value("store", str, "memory://"),
            data_dir=Path(value("data_dir", str, ".modwatch-data")),
            session_timeout_seconds=value("session_timeout_seconds", float, 30.0),
            tick_seconds=value("tick_seconds", float, 30.0),
            expire_after_days=value("expire_after_days", float, 30.0),
            redeliver_after_minutes=value("redeliver_after_minutes", float, 30.0),
            report_velocity_threshold=value("report_velocity_threshold", int, 5),
            report_velocity_window_minutes=value("report_velocity_window_minutes", float, 60.0),
            scan_batch_size=value("scan_batch_size", int, 500),
            scan_batch_seconds=value("scan_batch_seconds", float, 0.2),
            log_level=value("log_level", str, "info"),
            log_format=value("log_format", str, "json"),
            recheck_allow_loopback=environ.get("MODWATCH_RECHECK_ALLOW_LOOPBACK", "") == "1",
        )
        if settings.log_level.lower() not in {"debug", "info", "warning", "error"}:
            problems.add(f"{config_dir / 'modwatch.yaml'}: log_level: {settings.log_level!r} is not debug, info, warning or error")
        if settings.log_format not in {"json", "text"}:
            problems.add(f"{config_dir / 'modwatch.yaml'}: log_format: {settings.log_format!r} is not json or text")
        problems.raise_if_any()
        return settings
