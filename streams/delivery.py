"""Delivering takedown requests to platforms: signed webhooks, email and an outbox folder.

Each platform has one channel, configured under ``delivery:`` in
``config/platforms.yaml`` and loaded by :func:`load_delivery_config`:

``webhook``
    ``POST`` of the request as JSON (``orjson.dumps(request)``) to the
    platform's ``url``, signed with the platform's shared secret.
``email``
    An HTML notice over SMTP, with the signed notice JSON attached.
``outbox``
    ``<request_id>.json`` (the signed notice) and ``<request_id>.html`` (the
    notice for a person to read) written into a folder, for portals where
    someone files the request by hand. It needs no secret, so a fresh
    checkout delivers somewhere without any set-up.

**Signing** (shared with the platform simulator; keep it exactly so). Every
request carries::

    Idempotency-Key: <request_id>
    X-Modwatch-Timestamp: <unix seconds, integer>
    X-Modwatch-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

where ``body`` is the exact request body bytes. :func:`sign` makes the
signature and :func:`verify` checks one (also for platforms' status callbacks
to ``POST /status``): it raises :class:`SignatureError` for a missing or
malformed header, a signature that does not match, or a timestamp outside the
tolerance window, which is the replay guard: a captured request cannot be
replayed later than that. Within the window a replay is a duplicate, which
the receiver drops by its ``Idempotency-Key``. The key itself is not signed;
the ``request_id`` in the signed body is, and names the same request.

**Delivering.** :meth:`Deliverer.deliver` tries a request up to
``retry.max_attempts`` times:

- delivered: a 2xx answer (the mail server accepted the message; the files
  are in the outbox). ``DeliveryResult.delivered_at`` is the start of that
  attempt: it becomes the request's ``requested_at``.
- retry: a 5xx answer, 429, a timeout or a connection error (SMTP: a 4xx
  reply or a dropped connection). The wait before the next attempt is
  ``Retry-After`` when the platform gives one (seconds or an HTTP date,
  capped by ``max_retry_after_seconds``), else exponential backoff with full
  jitter: uniform between 0 and ``min(max_delay, base_delay * 2**(n-1))``, so
  that requests which failed together do not come back together.
- rejected: any other 4xx, or a 3xx (redirects are not followed: the signed
  request must not be forwarded elsewhere); SMTP: a 5xx reply. Sending the
  same request again would get the same answer, so it is not retried.
- failed: the last attempt failed and no attempt is left.
- circuit_open: no call was made because the platform's circuit breaker is
  open; the attempt waits for the breaker's cool-down and counts against the
  request's attempts, so a platform that stays down ends its requests as
  failed instead of holding them for ever.

The circuit breaker, one per platform, opens after ``failure_threshold``
consecutive retryable failures; while it is open no request is sent. After
``cool_down_seconds`` it is half-open: one request goes through as a trial,
and its success closes the breaker while its failure opens it again for
another cool-down. A rejection counts as an answer, not a failure: the
platform is up.

Every attempt is reported to ``on_attempt`` as a dict (``request_id``,
``platform``, ``channel``, ``attempt``, ``outcome``, ``status_code``,
``error``, ``elapsed_seconds``, ``at``, ``retry_in_seconds``) for the ledger
and ``modwatch_delivery_attempts_total{platform,outcome}``. The last
attempt of a delivery is ``delivered``, ``rejected``, ``failed`` or
``circuit_open``; all but the first end the request as ``delivery_failed``.

Sleeping, the clock and the jitter's random numbers are parameters, so tests
run without waiting and always draw the same delays.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import inspect
import ipaddress
import os
import random
import re
import smtplib
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
import orjson

from detectors.configfile import Document, PathKey, Problems, closest_key, load_yaml
from takedowns.signing import (  # noqa: F401  (re-exported: the sender's half of the scheme)
    IDEMPOTENCY_HEADER,
    MINIMUM_SECRET_BYTES,
    SIGNATURE_ERROR_REASONS,
    SIGNATURE_HEADER,
    SIGNATURE_TOLERANCE_SECONDS,
    SIGNATURE_VERSION,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    signature_headers,
    verify,
)

CHANNEL_KINDS = ("webhook", "email", "outbox")
ATTEMPT_OUTCOMES = ("delivered", "retry", "failed", "rejected", "circuit_open")
DEFAULT_OUTBOX_ROOT = Path("outbox")  # under the worker's data_dir

# How much of a platform's error answer is kept in an attempt's `error`: enough
# for its message, not a whole HTML error page in the ledger.
ERROR_BODY_CHARACTERS = 300
USER_AGENT = "modwatch-delivery/1"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.~-]{0,199}")
ENVIRONMENT_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- signing -------------------------------------------------------------------------------------


def request_body(request: Mapping[str, Any]) -> bytes:
    """The exact bytes that are sent and signed."""
    return orjson.dumps(request)


# --- configuration -------------------------------------------------------------------------------


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
        where: PathKey = ("platforms", platform, "delivery")
        if document.get(where) is None:
            channels[platform] = OutboxChannel(platform, _resolve(DEFAULT_OUTBOX_ROOT / platform, base_dir))
            continue
        section = document.mapping(where)
        if not section:
            if isinstance(document.get(where), dict):
                document.problem(where, "is empty: give at least `channel`")
            continue
        kind = document.choice(where + ("channel",), set(CHANNEL_KINDS), default="")
        if document.get(where + ("channel",)) is None:
            document.problem(where + ("channel",), f"is required: one of {', '.join(CHANNEL_KINDS)}")
        if not kind:
            continue
        _check_fields(document, where, section, _CHANNEL_FIELDS[kind], f"a {kind} channel")
        retry = _retry_policy(document, where)
        breaker = _breaker_settings(document, where)
        if kind == "webhook":
            channel = _webhook(document, where, platform, environ, retry, breaker)
        elif kind == "email":
            channel = _email(document, where, platform, environ, retry, breaker)
        else:
            folder = document.text(where + ("folder",), required=True)
            secret_env, secret = _secret(document, where + ("secret_env",), environ, required=False)
            channel = OutboxChannel(platform, _resolve(Path(folder), base_dir), secret_env, secret, retry, breaker)
        if channel is not None:
            channels[platform] = channel
    return channels


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


def _webhook(
    document: Document,
    where: PathKey,
    platform: str,
    environ: Mapping[str, str],
    retry: RetryPolicy,
    breaker: BreakerSettings,
) -> WebhookChannel | None:
    url = document.text(where + ("url",), required=True)
    insecure = document.get(where + ("insecure_http",), False)
    if not isinstance(insecure, bool):
        document.problem(where + ("insecure_http",), f"must be true or false, not {insecure!r}")
        insecure = False
    secret_env, secret = _secret(document, where + ("secret_env",), environ, required=True)
    if url.strip():
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            document.problem(
                where + ("url",), f"{url!r} has scheme {parts.scheme!r}; use https (or http to a local simulator)"
            )
        elif not parts.hostname:
            document.problem(where + ("url",), f"{url!r} names no host")
        elif parts.username or parts.password:
            document.problem(where + ("url",), "must not carry credentials: name a secret_env instead")
        elif parts.scheme == "http" and not (_is_loopback(parts.hostname) or insecure):
            # Evidence and account ids travel in the body: only in clear text on this machine, or on purpose.
            document.problem(
                where + ("url",),
                f"{url!r} is plain http to another machine; use https, or set insecure_http: true for a test network",
            )
    if secret is None or not url.strip():
        return None
    return WebhookChannel(platform, url, secret_env, secret, retry, breaker)


def _address(document: Document, path: PathKey, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        document.problem(path, f"must be an email address, not {value!r}")
        return None
    _, address = parseaddr(value)
    if any(ord(character) < 32 for character in value) or "@" not in address:
        document.problem(path, f"{value!r} is not an email address")
        return None
    return value.strip()


def _email(
    document: Document,
    where: PathKey,
    platform: str,
    environ: Mapping[str, str],
    retry: RetryPolicy,
    breaker: BreakerSettings,
) -> EmailChannel | None:
    host = document.text(where + ("host",), required=True)
    starttls = document.get(where + ("starttls",), True)
    if not isinstance(starttls, bool):
        document.problem(where + ("starttls",), f"must be true or false, not {starttls!r}")
        starttls = True
    # 587 is the submission port that expects STARTTLS; 25 a plain relay.
    port = _integer(document, where + ("port",), 587 if starttls else 25, 1)
    if port > 65535:
        document.problem(where + ("port",), f"{port} is not a TCP port")
    sender = None
    if document.get(where + ("from",)) is None:
        document.problem(where + ("from",), "is required: the sender's address")
    else:
        sender = _address(document, where + ("from",), document.get(where + ("from",)))
    given = document.get(where + ("to",))
    recipients: list[str | None] = []
    if given is None:
        document.problem(where + ("to",), "is required: one address or a list of them")
    elif isinstance(given, str):
        recipients = [_address(document, where + ("to",), given)]
    elif isinstance(given, list) and given:
        recipients = [_address(document, where + ("to", index), value) for index, value in enumerate(given)]
    else:
        document.problem(where + ("to",), f"must be an address or a non-empty list of addresses, not {given!r}")
    username = document.text(where + ("username",)) or None
    password_env, password = _environment_value(document, where + ("password_env",), environ, required=False)
    if password_env and not username:
        document.problem(where + ("username",), "is required when password_env is given")
    if password_env and not starttls and not _is_loopback(host):
        document.problem(where + ("starttls",), "is false, so the password would cross the network in clear text")
    secret_env, secret = _secret(document, where + ("secret_env",), environ, required=False)
    if not host.strip() or sender is None or not recipients or None in recipients:
        return None
    return EmailChannel(
        platform,
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
        retry,
        breaker,
    )


# --- the notice: what a person reads, and the signed file beside it ------------------------------


def _label(value: Any) -> str:
    return str(value if value not in (None, "") else "unknown").replace("_", " ")


def _finding_lines(finding: Mapping[str, Any]) -> list[str]:
    """One finding in words: detector, category, score, what matched. Plain text, escaped later."""
    details = finding.get("evidence") or {}
    if not isinstance(details, Mapping):
        details = {}
    head = f"{finding.get('detector') or 'unnamed detector'}: {_label(finding.get('category'))}"
    if isinstance(finding.get("score"), int | float) and not isinstance(finding.get("score"), bool):
        head += f" (score {finding['score']:.2f})"
    lines = [head]
    if finding.get("category") == "watchlisted_account" or details.get("matched_on"):
        # Whom the authority watches, and why, stays with the authority.
        lines.append("The account is on the authority's watchlist.")
        return lines
    if details.get("designations"):
        lines.append("Designated under " + ", ".join(map(str, details["designations"])))
    elif details.get("organisations"):
        lines.append("Listed organisations " + ", ".join(map(str, details["organisations"])))
    for group in ("mentions", "cues"):
        for item in details.get(group) or []:
            if isinstance(item, Mapping) and item.get("quote"):
                lines.append(f"{_label(item.get('kind') or group)}: “{item['quote']}”")
    if details.get("hash_type"):
        match = f"{details['hash_type']} hash match"
        if details.get("distance") is not None:
            match += f" at distance {details['distance']}"
        if details.get("label"):
            match += f" to {details['label']}"
        if details.get("source"):
            match += f" from {details['source']}"
        lines.append(match)
    elif details.get("model"):
        lines.append(f"Model {details['model']}" + (f" labelled it {details['label']}" if details.get("label") else ""))
    return lines


def _is_web_link(url: Any) -> bool:
    return isinstance(url, str) and urlsplit(url).scheme in {"http", "https"}


def render_notice_html(request: Mapping[str, Any]) -> str:
    """The notice as a self-contained HTML page; every value from the request is escaped.

    The page depends only on the request, so writing it twice gives the same
    bytes. It runs no script and loads nothing, even if a value slipped
    through: the Content-Security-Policy forbids both.
    """

    def text(value: Any) -> str:
        return html.escape("" if value is None else str(value), quote=True)

    request_id = request.get("request_id")
    categories = ", ".join(_label(category) for category in request.get("categories") or []) or "unlawful content"
    url = request.get("url")
    url_cell = f'<a href="{text(url)}" rel="noreferrer noopener">{text(url)}</a>' if _is_web_link(url) else text(url)
    rows = [
        ("Request", text(request_id)),
        ("Platform", text(request.get("platform"))),
        ("Content", url_cell),
        ("Post id", text(request.get("post_id"))),
        ("Account id", text(request.get("account_id"))),
        ("Posted at", text(request.get("posted_at"))),
        ("Categories", text(categories)),
        ("Severity", text(request.get("severity"))),
        ("Jurisdiction", text(request.get("jurisdiction"))),
        ("Legal basis", text(request.get("legal_basis"))),
        ("Citation", text(request.get("citation"))),
        ("Requested at", text(request.get("requested_at"))),
        ("Deadline", text(request.get("deadline"))),
    ]
    if request.get("previous_request_id"):
        rows.append(("Follows request", text(request["previous_request_id"])))
    evidence = [finding for finding in request.get("evidence") or [] if isinstance(finding, Mapping)]
    findings = (
        "\n".join(
            "<li>" + "<br>".join(text(line) for line in _finding_lines(finding)) + "</li>" for finding in evidence
        )
        or "<li>No findings recorded.</li>"
    )
    table = "\n".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Takedown request {text(request_id)}</title>
<style>
body{{font-family:sans-serif;max-width:50em;margin:2em auto}}
th{{text-align:left;padding-right:1em;vertical-align:top}}
</style>
</head>
<body>
<h1>Takedown request {text(request_id)}</h1>
<p>The content below was identified as {text(categories)}, unlawful under {text(request.get("citation"))}.
Please remove it or disable access to it by {text(request.get("deadline"))}, and quote the request id in any answer.</p>
<table>
{table}
</table>
<h2>Evidence</h2>
<ul>
{findings}
</ul>
<p>The full request, as signed by modwatch, is in the JSON file of the same name.</p>
</body>
</html>
"""


def notice_document(request: Mapping[str, Any], secret: bytes | None, timestamp: int) -> dict:
    """The signed notice: the headers a webhook would carry, the exact signed body, and the request."""
    body = request_body(request)
    return {
        "notice": "modwatch takedown request",
        "request_id": request["request_id"],
        "platform": request["platform"],
        "prepared_at": datetime.fromtimestamp(timestamp, UTC).isoformat(),
        "signed": secret is not None,
        "headers": signature_headers(request["request_id"], secret, timestamp, body),
        # The exact bytes the signature covers; `request` is the same, parsed, for reading.
        "body": body.decode("utf-8"),
        "request": request,
        "html_sha256": hashlib.sha256(render_notice_html(request).encode("utf-8")).hexdigest(),
    }


def _safe_request_id(request_id: Any) -> str:
    if not isinstance(request_id, str) or not REQUEST_ID_PATTERN.fullmatch(request_id):
        raise ValueError(f"request_id {request_id!r} cannot name a file (letters, digits, '-', '_', '.', '~')")
    return request_id


def _write_atomically(folder: Path, name: str, data: bytes, *, exclusive: bool) -> bool:
    """Write ``folder/name`` in one step: a temporary file in the same folder, then renamed.

    ``exclusive``: keep an existing file (hard link, which fails if the name
    is taken) and return False; otherwise replace it. Readers never see a
    half-written file.
    """
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        target = folder / name
        if not exclusive:
            os.replace(temporary, target)
            return True
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
        except OSError:
            # A filesystem without hard links: check, then rename (not atomic against a second writer).
            if target.exists():
                return False
            os.replace(temporary, target)
        return True
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
        _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # not every filesystem syncs a directory; the files themselves are synced
    finally:
        os.close(descriptor)


def write_outbox(folder: Path, request: Mapping[str, Any], secret: bytes | None, timestamp: int) -> dict:
    """Write the notice once per request id and return the notice that is on disk.

    The JSON file is created only if absent, so the first notice written for
    a request id stays (with its ``prepared_at``); the HTML page is rewritten
    from that notice's request when it is missing or differs, which repairs a
    crash between the two writes.
    """
    request_id = _safe_request_id(request.get("request_id"))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o750)
    json_path = folder / f"{request_id}.json"
    if json_path.exists():
        notice = orjson.loads(json_path.read_bytes())
    else:
        notice = notice_document(request, secret, timestamp)
        if not _write_atomically(
            folder, json_path.name, orjson.dumps(notice, option=orjson.OPT_INDENT_2), exclusive=True
        ):
            notice = orjson.loads(json_path.read_bytes())  # another writer got there first: theirs stands
    page = render_notice_html(notice["request"]).encode("utf-8")
    html_path = folder / f"{request_id}.html"
    if not html_path.exists() or html_path.read_bytes() != page:
        _write_atomically(folder, html_path.name, page, exclusive=False)
    return notice


# --- email ---------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def email_message(channel: EmailChannel, request: Mapping[str, Any], timestamp: int) -> EmailMessage:
    """The notice as an email: HTML and plain text bodies, the signed notice JSON attached."""
    notice = notice_document(request, channel.secret, timestamp)
    request_id = str(request["request_id"])
    categories = ", ".join(_label(category) for category in request.get("categories") or []) or "unlawful content"
    message = EmailMessage()
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.recipients)
    message["Subject"] = _one_line(f"Takedown request {request_id}: {categories}, deadline {request.get('deadline')}")
    # Stable across retries, so the recipient's mail system can drop a duplicate.
    domain = channel.sender.rsplit("@", 1)[-1].strip(" >") or "modwatch.invalid"
    message["Message-ID"] = f"<{_safe_request_id(request_id)}@{_one_line(domain)}>"
    message[IDEMPOTENCY_HEADER] = request_id  # the signature is in the attachment, over its `body`
    lines = [
        f"Takedown request {request_id}",
        f"Content: {request.get('url')}",
        f"Categories: {categories}",
        f"Legal basis: {request.get('legal_basis')} ({request.get('citation')})",
        f"Deadline: {request.get('deadline')}",
        "",
        "Evidence:",
        *(
            "- " + "; ".join(_finding_lines(finding))
            for finding in request.get("evidence") or []
            if isinstance(finding, Mapping)
        ),
        "",
        f"The signed request is attached as {request_id}.json.",
    ]
    message.set_content("\n".join(lines))
    message.add_alternative(render_notice_html(request), subtype="html")
    message.add_attachment(
        orjson.dumps(notice, option=orjson.OPT_INDENT_2),
        maintype="application",
        subtype="json",
        filename=f"{request_id}.json",
    )
    return message


def _send_email(channel: EmailChannel, message: EmailMessage) -> None:
    """Blocking: runs in a thread."""
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.retry.timeout_seconds) as client:
        client.ehlo()
        if channel.starttls:
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if channel.password is not None:
            client.login(channel.username or "", channel.password)
        client.send_message(
            message,
            from_addr=parseaddr(channel.sender)[1],
            to_addrs=[parseaddr(recipient)[1] for recipient in channel.recipients],
        )


# --- the circuit breaker -------------------------------------------------------------------------


class CircuitBreaker:
    """closed → open after N consecutive failures → half-open after the cool-down (one trial)."""

    def __init__(self, settings: BreakerSettings, clock: Callable[[], float]):
        self.settings = settings
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_in_flight = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self._clock() >= self.opened_at + self.settings.cool_down_seconds else "open"

    def seconds_until_trial(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.settings.cool_down_seconds - self._clock())

    def allow(self) -> bool:
        """May a request go out now? In half-open, only the first asker gets the trial."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def succeeded(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def failed(self) -> None:
        self.failures += 1
        if self.trial_in_flight or (self.opened_at is None and self.failures >= self.settings.failure_threshold):
            self.opened_at = self._clock()
        self.trial_in_flight = False

    def abandoned(self) -> None:
        """The caller gave up mid-attempt (cancelled): let the next request make the trial."""
        self.trial_in_flight = False


# --- delivering ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    request_id: str
    platform: str
    channel: str
    outcome: str  # the last attempt's: delivered, rejected, failed or circuit_open
    attempts: int
    delivered_at: datetime | None  # start of the successful attempt: the request's requested_at
    reason: str | None = None  # why it was not delivered
    status_code: int | None = None  # the last HTTP status or SMTP reply code

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


@dataclass(frozen=True, slots=True)
class _Try:
    """What one attempt came to, before the retry policy decides what follows."""

    result: str  # delivered | retryable | rejected
    status_code: int | None = None
    error: str | None = None
    retry_after_seconds: float | None = None
    delivered_at: datetime | None = None  # when the channel knows better than the attempt's start (outbox)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date; None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,10}", value):
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


class Deliverer:
    """Delivers takedown requests over each platform's channel, with retries and a breaker per platform.

    ``session``: an aiohttp session to use (not closed here); else one is made
    on first use and closed by :meth:`close`. ``on_attempt`` is called (and
    awaited, if it returns an awaitable) after every attempt. ``sleep``,
    ``clock`` (unix seconds) and ``rng`` are for tests.
    """

    def __init__(
        self,
        channels: Mapping[str, ChannelConfig],
        *,
        session: aiohttp.ClientSession | None = None,
        on_attempt: Callable[[dict], Any] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ):
        self.channels = dict(channels)
        self._session = session
        self._own_session = session is None
        self._on_attempt = on_attempt
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self.breakers = {
            platform: CircuitBreaker(channel.breaker, clock) for platform, channel in self.channels.items()
        }

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _report(self, attempt: dict) -> None:
        if self._on_attempt is not None:
            reported = self._on_attempt(attempt)
            if inspect.isawaitable(reported):
                await reported

    async def deliver(self, request: Mapping[str, Any]) -> DeliveryResult:
        """Deliver one request; returns once it is delivered or has failed for good."""
        request_id, platform = str(request.get("request_id")), str(request.get("platform"))
        channel = self.channels.get(platform)
        if channel is None:
            reason = f"platform {platform!r} has no delivery channel (configured: {', '.join(sorted(self.channels))})"
            await self._report(
                self._attempt(
                    request_id, platform, "none", 1, "failed", _Try("rejected", error=reason), self._clock(), None
                )
            )
            return DeliveryResult(request_id, platform, "none", "failed", 1, None, reason)
        breaker = self.breakers[platform]
        policy = channel.retry
        last: _Try | None = None
        for attempt in range(1, policy.max_attempts + 1):
            started = self._clock()
            final = attempt == policy.max_attempts
            if not breaker.allow():
                # No call while open; wait for the cool-down (with jitter, so waiting requests do not all arrive
                # at the trial together) or the backoff, whichever is longer.
                jitter = self._rng.uniform(0, channel.breaker.cool_down_seconds / 10)
                delay = max(breaker.seconds_until_trial() + jitter, self._backoff(policy, attempt))
                error = f"circuit open for {platform} after {breaker.failures} consecutive failures"
                last = _Try("retryable", error=error)
                await self._report(
                    self._attempt(
                        request_id,
                        platform,
                        channel.kind,
                        attempt,
                        "circuit_open",
                        last,
                        started,
                        None if final else delay,
                    )
                )
                if final:
                    return DeliveryResult(
                        request_id,
                        platform,
                        channel.kind,
                        "circuit_open",
                        attempt,
                        None,
                        f"{error}; gave up after {attempt} attempts",
                        None,
                    )
                await self._sleep(delay)
                continue
            try:
                last = await self._try(channel, request)
            except BaseException:
                breaker.abandoned()
                raise
            if last.result == "delivered":
                breaker.succeeded()
                await self._report(
                    self._attempt(request_id, platform, channel.kind, attempt, "delivered", last, started, None)
                )
                return DeliveryResult(
                    request_id,
                    platform,
                    channel.kind,
                    "delivered",
                    attempt,
                    last.delivered_at or datetime.fromtimestamp(started, UTC),
                    None,
                    last.status_code,
                )
            if last.result == "rejected":
                breaker.succeeded()  # the platform answered: it is up, the request is what it refused
                await self._report(
                    self._attempt(request_id, platform, channel.kind, attempt, "rejected", last, started, None)
                )
                return DeliveryResult(
                    request_id,
                    platform,
                    channel.kind,
                    "rejected",
                    attempt,
                    None,
                    f"rejected: {last.error}",
                    last.status_code,
                )
            breaker.failed()
            if final:
                await self._report(
                    self._attempt(request_id, platform, channel.kind, attempt, "failed", last, started, None)
                )
                return DeliveryResult(
                    request_id,
                    platform,
                    channel.kind,
                    "failed",
                    attempt,
                    None,
                    f"gave up after {attempt} attempts: {last.error}",
                    last.status_code,
                )
            if last.retry_after_seconds is not None:
                delay = min(last.retry_after_seconds, policy.max_retry_after_seconds)
            else:
                delay = self._backoff(policy, attempt)
            await self._report(
                self._attempt(request_id, platform, channel.kind, attempt, "retry", last, started, delay)
            )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt always returns")

    def _backoff(self, policy: RetryPolicy, attempt: int) -> float:
        # Full jitter (uniform from 0 to the exponential cap): spreads out requests that failed together.
        return self._rng.uniform(0, policy.backoff_cap(attempt))

    def _attempt(
        self,
        request_id: str,
        platform: str,
        channel: str,
        number: int,
        outcome: str,
        tried: _Try,
        started: float,
        retry_in: float | None,
    ) -> dict:
        return {
            "request_id": request_id,
            "platform": platform,
            "channel": channel,
            "attempt": number,
            "outcome": outcome,
            "status_code": tried.status_code,
            "error": tried.error,
            "elapsed_seconds": max(0.0, self._clock() - started),
            "at": datetime.fromtimestamp(started, UTC).isoformat(),
            "retry_in_seconds": retry_in,
        }

    async def _try(self, channel: ChannelConfig, request: Mapping[str, Any]) -> _Try:
        if isinstance(channel, WebhookChannel):
            return await self._try_webhook(channel, request)
        if isinstance(channel, EmailChannel):
            return await self._try_email(channel, request)
        return await self._try_outbox(channel, request)

    async def _try_webhook(self, channel: WebhookChannel, request: Mapping[str, Any]) -> _Try:
        body = request_body(request)
        # Signed per attempt: a retry minutes later must still be inside the receiver's window.
        headers = signature_headers(str(request["request_id"]), channel.secret, int(self._clock()), body)
        headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
        try:
            async with self._client().post(
                channel.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=channel.retry.timeout_seconds),
                allow_redirects=False,
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return _Try("delivered", status)
                answer = (await response.content.read(ERROR_BODY_CHARACTERS * 4)).decode("utf-8", "replace")
                error = f"HTTP {status}" + (f": {answer[:ERROR_BODY_CHARACTERS]}" if answer.strip() else "")
                if status == 429 or status >= 500:
                    wait = retry_after_seconds(response.headers.get("Retry-After"), self._clock())
                    return _Try("retryable", status, error, wait)
                if 300 <= status < 400:
                    error += f" (redirect to {response.headers.get('Location')!r} not followed)"
                return _Try("rejected", status, error)
        except TimeoutError:
            return _Try("retryable", error=f"no answer within {channel.retry.timeout_seconds:g} s")
        except aiohttp.ClientError as error:
            return _Try("retryable", error=f"{type(error).__name__}: {error}")

    async def _try_email(self, channel: EmailChannel, request: Mapping[str, Any]) -> _Try:
        message = email_message(channel, request, int(self._clock()))
        try:
            await asyncio.get_running_loop().run_in_executor(None, _send_email, channel, message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            transient = any(400 <= code < 500 for code in codes)
            detail = "; ".join(f"{to}: {code} {_decode(text)}" for to, (code, text) in error.recipients.items())
            return _Try(
                "retryable" if transient else "rejected", codes[0] if codes else None, f"recipients refused: {detail}"
            )
        except smtplib.SMTPResponseException as error:
            transient = 400 <= error.smtp_code < 500
            return _Try(
                "retryable" if transient else "rejected",
                error.smtp_code,
                f"SMTP {error.smtp_code} {_decode(error.smtp_error)}",
            )
        except smtplib.SMTPNotSupportedError as error:
            return _Try("rejected", error=f"the mail server does not support it: {error}")
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            # Connection refused, reset or timed out; a server that hung up: try again later.
            return _Try("retryable", error=f"{type(error).__name__}: {error}")
        return _Try("delivered", 250)

    async def _try_outbox(self, channel: OutboxChannel, request: Mapping[str, Any]) -> _Try:
        try:
            _safe_request_id(request.get("request_id"))
        except ValueError as error:
            return _Try("rejected", error=str(error))
        try:
            notice = await asyncio.get_running_loop().run_in_executor(
                None, write_outbox, channel.folder, request, channel.secret, int(self._clock())
            )
        except OSError as error:
            return _Try("retryable", error=f"cannot write to {channel.folder}: {error}")
        except (ValueError, KeyError) as error:
            # A notice file for this id that is not one of ours (edited by hand?): a person must look.
            return _Try("rejected", error=f"{channel.folder}: the notice already there is unreadable: {error!r}")
        # Written once per request id: a repeat delivery reports when it was first filed.
        return _Try("delivered", delivered_at=datetime.fromisoformat(notice["prepared_at"]))


def _decode(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
