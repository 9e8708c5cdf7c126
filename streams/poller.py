"""Re-check polling for platforms without status callbacks: is the content still up?

For each open request, fetch its URL now and then; 404, 410 or a page that
says the content is unavailable becomes a ``removed`` status event. Fetching
a URL from input is a server-side request forgery risk, so every fetch is
guarded:

* only ``http`` and ``https``;
* only hosts configured for that platform (``poll_hosts`` in platforms.yaml),
  matched exactly or as a subdomain;
* every address the host resolves to must be public: loopback, private,
  link-local, multicast, reserved and unspecified addresses are refused
  (a test setting allows loopback for local test servers);
* no redirects followed (a redirect could point anywhere); a redirect is
  "unknown", not "removed";
* a timeout, and at most ``max_bytes`` of the body read.

A platform is re-checked when ``platforms.yaml`` gives it a ``recheck``
section (:func:`load_recheck_config`); the worker's ``recheck_open_requests``
timer (streams/agents/timers.py) polls each open request's URL every
``interval_seconds`` and sends a ``removed`` status (source ``recheck``) to the
platform-status topic, where it is validated like any other status event.
The removal time is the poll's time, an upper bound, unless the 404/410 page
is JSON with an ``observed_at`` timestamp (the simulator's pages are).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import orjson

from detectors.configfile import VALUE, Problems, load_yaml

# Phrases platforms show on a removed or withheld item. Checked in the first
# max_bytes of the page, case-insensitively.
UNAVAILABLE_PATTERNS = re.compile(
    rb"(this (content|post|video|tweet|page) (is|isn't|is not) (no longer )?available"
    rb"|content unavailable|post unavailable|video unavailable|has been removed"
    rb"|withheld in your country|this account doesn't exist|page not found)",
    re.IGNORECASE,
)


class RefusedURL(ValueError):
    """A URL the poller will not fetch; the message says why."""


@dataclass(frozen=True, slots=True)
class PollResult:
    url: str
    verdict: str  # removed | available | unknown
    status_code: int | None
    reason: str
    observed_at: str | None = None  # when the page says the content went (a JSON 404/410 body)


@dataclass(frozen=True, slots=True)
class RecheckConfig:
    platform: str
    interval_seconds: float
    hosts: tuple[str, ...]
    timeout_seconds: float = 10.0


RECHECK_SCHEMA = {"interval_seconds": VALUE, "hosts": [VALUE], "timeout_seconds": VALUE}


def load_recheck_config(path: Path, problems: Problems) -> dict[str, RecheckConfig]:
    """Each platform's ``recheck`` section of platforms.yaml: ``interval_seconds`` and ``hosts``."""
    document = load_yaml(Path(path), problems)
    configs: dict[str, RecheckConfig] = {}
    for platform in document.mapping(("platforms",)):
        if not isinstance(document.get(("platforms", platform)), dict):
            continue
        where = ("platforms", platform, "recheck")
        if document.get(where) is None:
            continue
        document.mapping(where)
        document.check_keys(RECHECK_SCHEMA, where)
        hosts = document.sequence(where + ("hosts",), required=True)
        if any(not isinstance(host, str) or not host.strip() for host in hosts):
            document.problem(where + ("hosts",), "must be a list of host names")
            continue
        if not hosts:
            document.problem(where + ("hosts",), "names no host: the poller fetches only from listed hosts")
            continue
        configs[platform] = RecheckConfig(
            platform=platform,
            interval_seconds=document.number(where + ("interval_seconds",), default=900.0, minimum=0.1),
            hosts=tuple(host.strip().lower() for host in hosts),
            timeout_seconds=document.number(where + ("timeout_seconds",), default=10.0, minimum=0.1),
        )
    return configs


def check_url(
    url: str, allowed_hosts: Iterable[str], *, allow_loopback: bool = False, resolve=socket.getaddrinfo
) -> tuple[str, list[str]]:
    """The host and its addresses if ``url`` may be fetched; RefusedURL otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RefusedURL(f"{url!r}: scheme {parts.scheme!r} is not http or https")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise RefusedURL(f"{url!r} has no host")
    allowed = [candidate.lower().rstrip(".") for candidate in allowed_hosts]
    if not any(host == candidate or host.endswith("." + candidate) for candidate in allowed):
        raise RefusedURL(f"{url!r}: host {host!r} is not configured for this platform ({', '.join(allowed) or 'none'})")
    try:
        infos = resolve(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise RefusedURL(f"{url!r}: cannot resolve {host!r}: {error}") from None
    addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if ip.is_loopback and allow_loopback:
            continue
        if not ip.is_global or ip.is_multicast:
            raise RefusedURL(f"{url!r}: {host!r} resolves to {address}, which is not a public address")
    return host, addresses


async def poll(
    session: aiohttp.ClientSession,
    url: str,
    allowed_hosts: Iterable[str],
    *,
    allow_loopback: bool = False,
    timeout_seconds: float = 10.0,
    max_bytes: int = 256 * 1024,
) -> PollResult:
    """Fetch ``url`` once, guarded, and say whether the content looks removed."""
    check_url(url, allowed_hosts, allow_loopback=allow_loopback)
    try:
        async with session.get(
            url,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            headers={"User-Agent": "modwatch-recheck/1"},
        ) as response:
            if response.status in (404, 410):
                return PollResult(
                    url,
                    "removed",
                    response.status,
                    f"HTTP {response.status}",
                    _observed_at(await response.content.read(max_bytes)),
                )
            if 300 <= response.status < 400:
                return PollResult(url, "unknown", response.status, "redirect not followed")
            if response.status != 200:
                return PollResult(url, "unknown", response.status, f"HTTP {response.status}")
            body = await response.content.read(max_bytes)
    except (TimeoutError, aiohttp.ClientError) as error:
        return PollResult(url, "unknown", None, f"{type(error).__name__}: {error}")
    if UNAVAILABLE_PATTERNS.search(body):
        return PollResult(url, "removed", 200, "page says the content is unavailable")
    return PollResult(url, "available", 200, "page served")


def _observed_at(body: bytes) -> str | None:
    try:
        page = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    observed_at = page.get("observed_at") if isinstance(page, dict) else None
    return observed_at if isinstance(observed_at, str) and len(observed_at) <= 64 else None
