"""Who may write through the web API, and which signed callbacks are fresh.

Writes (``POST /decisions``) need ``Authorization: Bearer $MODWATCH_API_TOKEN``;
the scheme is matched without case (RFC 7235) and the token in constant time.
Without a token writes are refused, unless the worker was started with
``--insecure`` (``MODWATCH_INSECURE=1``), which it logs at every start.

A worker refuses to start on an address other than loopback without a token
(:func:`exposure_problem`), so an open write API is always a choice made on
the command line, never a default.

Signed status callbacks (``POST /status``) are good once: :class:`ReplayGuard`
remembers the digest of every accepted signature until its timestamp leaves
the window, and refuses a timestamp more than ``MAX_FUTURE_SKEW_SECONDS``
ahead, so a captured callback cannot be sent again.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import ipaddress
from collections.abc import Mapping

TOKEN_VARIABLE = "MODWATCH_API_TOKEN"
INSECURE_VARIABLE = "MODWATCH_INSECURE"
# A platform's clock may run a little ahead of ours; a callback from further in
# the future would stay valid longer than the window meant.
MAX_FUTURE_SKEW_SECONDS = 30
MIN_TOKEN_LENGTH = 16


def api_token(environ: Mapping[str, str]) -> str:
    return environ.get(TOKEN_VARIABLE, "").strip()


def insecure(environ: Mapping[str, str]) -> bool:
    return environ.get(INSECURE_VARIABLE, "") == "1"


def bearer_allowed(authorization: str, environ: Mapping[str, str]) -> bool:
    """Whether an ``Authorization`` header value may write."""
    token = api_token(environ)
    if not token:
        return insecure(environ)
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(web_host: str, environ: Mapping[str, str]) -> str | None:
    """Why the worker must not start with this address and environment, or None."""
    token = api_token(environ)
    if token and len(token) < MIN_TOKEN_LENGTH:
        return (
            f"environment {TOKEN_VARIABLE}: is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            "(for example: openssl rand -hex 24)"
        )
    if is_loopback(web_host) or token or insecure(environ):
        return None
    return (
        f"web_host {web_host!r} is not loopback and {TOKEN_VARIABLE} is not set: anyone who reaches the port "
        f"could approve takedown requests. Set {TOKEN_VARIABLE}, listen on 127.0.0.1, or start with --insecure"
    )


class ReplayGuard:
    """Signatures already accepted, each kept until its timestamp leaves the window."""

    def __init__(self, window_seconds: float, future_skew_seconds: float = MAX_FUTURE_SKEW_SECONDS):
        self.window_seconds = window_seconds
        self.future_skew_seconds = future_skew_seconds
        self._seen: set[bytes] = set()
        self._expiry: list[tuple[float, bytes]] = []  # a heap: (when it can be forgotten, digest)

    def refusal(self, timestamp: int, signature: str, now: float) -> str | None:
        """Why a verified callback must still be refused (``future_timestamp``, ``replay``), or None."""
        if timestamp > now + self.future_skew_seconds:
            return "future_timestamp"
        while self._expiry and self._expiry[0][0] < now:
            self._seen.discard(heapq.heappop(self._expiry)[1])
        digest = hashlib.sha256(signature.strip().lower().encode()).digest()
        if digest in self._seen:
            return "replay"
        self._seen.add(digest)
        # Kept until the timestamp is stale (the signature check refuses it from then on).
        heapq.heappush(self._expiry, (timestamp + self.window_seconds, digest))
        return None

    def __len__(self) -> int:
        return len(self._seen)
