"""Each platform's delivery channel, read from ``delivery:`` in ``config/platforms.yaml``.

:func:`load_delivery_config` reads one channel per platform (``webhook``,
``email`` or ``outbox``), with its retry policy and circuit breaker settings,
into the frozen dataclasses below, and reports every fault at once through
``problems`` (file, line, field). Secrets and passwords are never in the file:
it names the environment variables that hold them (``secret_env``,
``password_env``), and a credential written into the file is itself a fault.
A platform without ``delivery:`` writes to an outbox folder, so a fresh
checkout delivers somewhere without any set-up.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from detectors.configfile import Document, PathKey, Problems, closest_key, load_yaml
from takedowns.signing import MINIMUM_SECRET_BYTES

CHANNEL_KINDS = ("webhook", "email", "outbox")
DEFAULT_OUTBOX_ROOT = Path("outbox")  # under the worker's data_dir
ENVIRONMENT_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    # Ten attempts with delays capped at 2, 4, ... 256 then 300 s give a
    # platform's outage about ten minutes (at most 13.5) before a request
    # surfaces as delivery_failed, well inside the shortest deadline (EU, 1 h),
    # so that someone can still file it by hand in time.
    max_attempts: int = 10
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 300.0
    # A platform asking for a longer pause than this is waited for this long
    # only; a deadline keeps running while we wait.
    max_retry_after_seconds: float = 600.0
    # One attempt: long enough for a slow platform API, short enough that a
    # hung connection does not hold the request.
    timeout_seconds: float = 10.0

    def backoff_cap(self, attempt: int) -> float:
        """The largest delay drawn after failed attempt ``attempt`` (1-based)."""
        return min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1))


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    # Five failures in a row is an outage rather than a blip, and stops the
    # other requests queued for that platform from each spending attempts on it.
    failure_threshold: int = 5
    # One trial request a minute is enough to notice that a platform is back.
    cool_down_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    kind: ClassVar[str] = "webhook"
    platform: str
    url: str
    secret_env: str
    secret: bytes = field(repr=False)
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerSettings = BreakerSettings()


@dataclass(frozen=True, slots=True)
class EmailChannel:
    kind: ClassVar[str] = "email"
    platform: str
    host: str
    port: int
    sender: str  # `from` in the YAML
    recipients: tuple[str, ...]  # `to` in the YAML
    starttls: bool
    username: str | None = None
    password_env: str | None = None
    password: str | None = field(default=None, repr=False)
    secret_env: str | None = None
    secret: bytes | None = field(default=None, repr=False)
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerSettings = BreakerSettings()


@dataclass(frozen=True, slots=True)
class OutboxChannel:
    kind: ClassVar[str] = "outbox"
    platform: str
    folder: Path
    secret_env: str | None = None
    secret: bytes | None = field(default=None, repr=False)
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerSettings = BreakerSettings()


ChannelConfig = WebhookChannel | EmailChannel | OutboxChannel

_COMMON_FIELDS = frozenset({"channel", "timeout_seconds", "retry", "circuit_breaker"})
_CHANNEL_FIELDS = {
    "webhook": _COMMON_FIELDS | {"url", "secret_env", "insecure_http"},
    "email": _COMMON_FIELDS | {"host", "port", "from", "to", "starttls", "username", "password_env", "secret_env"},
    "outbox": _COMMON_FIELDS | {"folder", "secret_env"},
}
_RETRY_FIELDS = frozenset({"max_attempts", "base_delay_seconds", "max_delay_seconds", "max_retry_after_seconds"})
_BREAKER_FIELDS = frozenset({"failure_threshold", "cool_down_seconds"})
# Fields that would put a credential in the YAML itself: name an environment variable instead.
_CREDENTIAL_FIELDS = {"secret": "secret_env", "password": "password_env", "token": "secret_env"}


@dataclass(frozen=True, slots=True)
class _Section:
    """One platform's ``delivery:`` section, with the settings every kind of channel shares already read."""

    document: Document
    where: PathKey
    platform: str
    environ: Mapping[str, str]
    base_dir: Path | None
    retry: RetryPolicy
    breaker: BreakerSettings

    def path(self, *keys: str | int) -> PathKey:
        return self.where + keys


def load_delivery_config(
    path: Path,
    problems: Problems,
    environ: Mapping[str, str] = os.environ,
    *,
    base_dir: Path | None = None,
) -> dict[str, ChannelConfig]:
    """Each platform's delivery channel from ``platforms.yaml``; every fault goes to ``problems``.

    Secrets and passwords are read from the environment variables the file
    names (``secret_env``, ``password_env``), never from the file. A platform
    without ``delivery:`` writes to the outbox ``<base_dir>/outbox/<platform>/``.
    A relative outbox folder is resolved against ``base_dir`` when given, else
    left relative (to the worker's working directory, like ``MODWATCH_DATA_DIR``).
    """
    document = load_yaml(Path(path), problems)
    channels: dict[str, ChannelConfig] = {}
    # load_platforms reports a missing `platforms` and unusable names; not twice.
    for platform in document.mapping(("platforms",)):
        if ":" in platform or not platform.strip() or not isinstance(document.get(("platforms", platform)), dict):
            continue
        channel = _platform_channel(document, platform, environ, base_dir)
        if channel is not None:
            channels[platform] = channel
    return channels


def _platform_channel(
    document: Document, platform: str, environ: Mapping[str, str], base_dir: Path | None
) -> ChannelConfig | None:
    """The platform's channel; None when its section is unusable (the problems say why)."""
    where: PathKey = ("platforms", platform, "delivery")
    if document.get(where) is None:
        return OutboxChannel(platform, _resolve(DEFAULT_OUTBOX_ROOT / platform, base_dir))
    section = document.mapping(where)
    if not section:
        if isinstance(document.get(where), dict):
            document.problem(where, "is empty: give at least `channel`")
        return None
    kind = document.choice(where + ("channel",), set(CHANNEL_KINDS), default="")
    if document.get(where + ("channel",)) is None:
        document.problem(where + ("channel",), f"is required: one of {', '.join(CHANNEL_KINDS)}")
    if not kind:
        return None
    _check_fields(document, where, section, _CHANNEL_FIELDS[kind], f"a {kind} channel")
    retry = _retry_policy(document, where)
    breaker = _breaker_settings(document, where)
    return _CHANNEL_READERS[kind](_Section(document, where, platform, environ, base_dir, retry, breaker))


def _resolve(folder: Path, base_dir: Path | None) -> Path:
    return folder if folder.is_absolute() or base_dir is None else Path(base_dir) / folder


def _check_fields(document: Document, where: PathKey, section: dict, allowed: frozenset[str], what: str) -> None:
    for name in section:
        if name in _CREDENTIAL_FIELDS:
            # The value is not quoted back: it may be the secret itself, and problems end up in logs.
            document.problem(
                where + (name,),
                f"credentials are not read from the config file: put it in an environment variable "
                f"and name that variable with {_CREDENTIAL_FIELDS[name]}",
            )
        elif name not in allowed:
            close = closest_key(name, allowed)
            document.problem(
                where + (name,),
                f"is not a field of {what}; did you mean {close!r}?"
                if close
                else f"is not a field of {what} (fields: {', '.join(sorted(allowed))})",
            )


def _integer(document: Document, path: PathKey, default: int, minimum: int) -> int:
    value = document.get(path)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        document.problem(path, f"must be a whole number, not {value!r}")
        return default
    if value < minimum:
        document.problem(path, f"must be at least {minimum}, not {value!r}")
        return default
    return value


def _retry_policy(document: Document, where: PathKey) -> RetryPolicy:
    defaults = RetryPolicy()
    retry = where + ("retry",)
    _check_fields(document, retry, document.mapping(retry), _RETRY_FIELDS, "retry")
    base = document.number(retry + ("base_delay_seconds",), default=defaults.base_delay_seconds, minimum=0)
    largest = document.number(retry + ("max_delay_seconds",), default=defaults.max_delay_seconds, minimum=0)
    if largest < base:
        document.problem(retry + ("max_delay_seconds",), f"{largest:g} is below base_delay_seconds {base:g}")
    return RetryPolicy(
        max_attempts=_integer(document, retry + ("max_attempts",), defaults.max_attempts, 1),
        base_delay_seconds=base,
        max_delay_seconds=max(base, largest),
        max_retry_after_seconds=document.number(
            retry + ("max_retry_after_seconds",), default=defaults.max_retry_after_seconds, minimum=0
        ),
        timeout_seconds=document.number(where + ("timeout_seconds",), default=defaults.timeout_seconds, minimum=0.001),
    )


def _breaker_settings(document: Document, where: PathKey) -> BreakerSettings:
    defaults = BreakerSettings()
    breaker = where + ("circuit_breaker",)
    _check_fields(document, breaker, document.mapping(breaker), _BREAKER_FIELDS, "circuit_breaker")
    return BreakerSettings(
        failure_threshold=_integer(document, breaker + ("failure_threshold",), defaults.failure_threshold, 1),
        cool_down_seconds=document.number(
            breaker + ("cool_down_seconds",), default=defaults.cool_down_seconds, minimum=0
        ),
    )


def _environment_value(
    document: Document, path: PathKey, environ: Mapping[str, str], required: bool
) -> tuple[str | None, str | None]:
    """(variable name, its value) for a ``*_env`` field; (None, None) when absent and optional."""
    name = document.get(path)
    if name is None:
        if required:
            document.problem(path, "is required: the name of the environment variable that holds it")
        return None, None
    if not isinstance(name, str) or not ENVIRONMENT_NAME_PATTERN.fullmatch(name):
        # Not quoted back: someone may have pasted the secret here instead of a variable's name.
        document.problem(
            path, "must be the name of an environment variable (letters, digits and _), not the credential itself"
        )
        return None, None
    value = environ.get(name)
    if value is None:
        document.problem(path, f"environment variable {name} is not set")
        return name, None
    if not value:
        document.problem(path, f"environment variable {name} is empty")
        return name, None
    return name, value


def _secret(
    document: Document, path: PathKey, environ: Mapping[str, str], required: bool
) -> tuple[str | None, bytes | None]:
    name, value = _environment_value(document, path, environ, required)
    if value is None:
        return name, None
    secret = value.encode("utf-8")
    if len(secret) < MINIMUM_SECRET_BYTES:
        document.problem(
            path,
            f"environment variable {name} holds {len(secret)} bytes; a signing secret "
            f"needs at least {MINIMUM_SECRET_BYTES}",
        )
    return name, secret


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _flag(document: Document, path: PathKey, default: bool) -> bool:
    value = document.get(path, default)
    if not isinstance(value, bool):
        document.problem(path, f"must be true or false, not {value!r}")
        return default
    return value


def _webhook(section: _Section) -> WebhookChannel | None:
    document = section.document
    url = document.text(section.path("url"), required=True)
    insecure = _flag(document, section.path("insecure_http"), False)
    secret_env, secret = _secret(document, section.path("secret_env"), section.environ, required=True)
    if url.strip():
        _check_url(document, section.path("url"), url, insecure)
    if secret is None or not url.strip():
        return None
    return WebhookChannel(section.platform, url, secret_env, secret, section.retry, section.breaker)


def _check_url(document: Document, path: PathKey, url: str, insecure: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        document.problem(path, f"{url!r} has scheme {parts.scheme!r}; use https (or http to a local simulator)")
    elif not parts.hostname:
        document.problem(path, f"{url!r} names no host")
    elif parts.username or parts.password:
        document.problem(path, "must not carry credentials: name a secret_env instead")
    elif parts.scheme == "http" and not (_is_loopback(parts.hostname) or insecure):
        # Evidence and account ids travel in the body: only in clear text on this machine, or on purpose.
        document.problem(
            path, f"{url!r} is plain http to another machine; use https, or set insecure_http: true for a test network"
        )


def _address(document: Document, path: PathKey, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        document.problem(path, f"must be an email address, not {value!r}")
        return None
    _, address = parseaddr(value)
    if any(ord(character) < 32 for character in value) or "@" not in address:
        document.problem(path, f"{value!r} is not an email address")
        return None
    return value.strip()


def _sender(section: _Section) -> str | None:
    if section.document.get(section.path("from")) is None:
        section.document.problem(section.path("from"), "is required: the sender's address")
        return None
    return _address(section.document, section.path("from"), section.document.get(section.path("from")))


def _recipients(section: _Section) -> list[str | None]:
    """The ``to`` addresses; None stands for one that is not an address (the problems say which)."""
    document, path = section.document, section.path("to")
    given = document.get(path)
    if given is None:
        document.problem(path, "is required: one address or a list of them")
    elif isinstance(given, str):
        return [_address(document, path, given)]
    elif isinstance(given, list) and given:
        return [_address(document, path + (index,), value) for index, value in enumerate(given)]
    else:
        document.problem(path, f"must be an address or a non-empty list of addresses, not {given!r}")
    return []


def _email(section: _Section) -> EmailChannel | None:
    document, environ = section.document, section.environ
    host = document.text(section.path("host"), required=True)
    starttls = _flag(document, section.path("starttls"), True)
    # 587 is the submission port that expects STARTTLS; 25 a plain relay.
    port = _integer(document, section.path("port"), 587 if starttls else 25, 1)
    if port > 65535:
        document.problem(section.path("port"), f"{port} is not a TCP port")
    sender = _sender(section)
    recipients = _recipients(section)
    username = document.text(section.path("username")) or None
    password_env, password = _environment_value(document, section.path("password_env"), environ, required=False)
    if password_env and not username:
        document.problem(section.path("username"), "is required when password_env is given")
    if password_env and not starttls and not _is_loopback(host):
        document.problem(section.path("starttls"), "is false, so the password would cross the network in clear text")
    secret_env, secret = _secret(document, section.path("secret_env"), environ, required=False)
    if not host.strip() or sender is None or not recipients or None in recipients:
        return None
    return EmailChannel(
        section.platform,
        host,
        port,
        sender,
        tuple(recipients),
        starttls,
        username,
        password_env,
        password,
        secret_env,
        secret,
        section.retry,
        section.breaker,
    )


def _outbox(section: _Section) -> OutboxChannel:
    folder = section.document.text(section.path("folder"), required=True)
    secret_env, secret = _secret(section.document, section.path("secret_env"), section.environ, required=False)
    folder_path = _resolve(Path(folder), section.base_dir)
    return OutboxChannel(section.platform, folder_path, secret_env, secret, section.retry, section.breaker)


_CHANNEL_READERS = {"webhook": _webhook, "email": _email, "outbox": _outbox}
