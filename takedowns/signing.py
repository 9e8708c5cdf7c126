"""Signing and verifying what modwatch and platforms send each other.

One scheme, used by the sender (``streams/delivery``), the status callback
(``POST /status`` in ``streams/web.py``) and the platform simulator
(``sim/platforms.py``); the test vectors in ``docs/signing.md`` come from here
and ``tests/test_signing.py`` holds them. Every signed message carries::

    Idempotency-Key: <request_id>
    X-Modwatch-Timestamp: <unix seconds, integer>
    X-Modwatch-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

where ``body`` is the exact body bytes. :func:`verify` raises
:class:`SignatureError` for a missing or malformed header, a signature that
does not match, or a timestamp outside the tolerance window (the replay guard:
a captured message cannot be replayed later than that; within the window a
replay is a duplicate, which the receiver drops by its ``Idempotency-Key``).
The key itself is not signed; the ``request_id`` in the signed body is, and
names the same request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime

SIGNATURE_VERSION = "v1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TIMESTAMP_HEADER = "X-Modwatch-Timestamp"
SIGNATURE_HEADER = "X-Modwatch-Signature"
# Five minutes either way covers clock skew between modwatch and a platform
# and a slow network, and is still too short to replay a captured request later.
SIGNATURE_TOLERANCE_SECONDS = 300
# A shorter secret could be found offline from a single signed request.
MINIMUM_SECRET_BYTES = 16

SIGNATURE_ERROR_REASONS = ("missing_header", "bad_format", "mismatch", "stale_timestamp", "future_timestamp")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(rf"{SIGNATURE_VERSION}=([0-9a-fA-F]{{64}})")


class SignatureError(Exception):
    """A signed message that must not be trusted; ``reason`` is one of ``SIGNATURE_ERROR_REASONS``."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(f"{reason}: {message}")


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`` over the exact body bytes."""
    message = str(int(timestamp)).encode() + b"." + body
    return f"{SIGNATURE_VERSION}={hmac.new(_secret_bytes(secret), message, hashlib.sha256).hexdigest()}"


def signature_headers(request_id: str, secret: str | bytes | None, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers a signed message carries; without a secret, no signature header."""
    headers = {IDEMPOTENCY_HEADER: request_id, TIMESTAMP_HEADER: str(int(timestamp))}
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return headers


def _one_header(headers: Mapping[str, str], name: str) -> str:
    values = [str(value) for key, value in headers.items() if str(key).lower() == name.lower()]
    if not values:
        raise SignatureError("missing_header", f"{name} is missing")
    if len(values) > 1:
        raise SignatureError("bad_format", f"{name} is given {len(values)} times")
    return values[0].strip()


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: float | datetime,
    tolerance_seconds: float = SIGNATURE_TOLERANCE_SECONDS,
) -> None:
    """Raise :class:`SignatureError` unless ``body`` was signed with ``secret`` within the window.

    ``headers`` may be any mapping (a dict, aiohttp's case-insensitive
    headers); names are matched without case. ``now`` is unix seconds or an
    aware datetime.
    """
    timestamp_text = _one_header(headers, TIMESTAMP_HEADER)
    signature_text = _one_header(headers, SIGNATURE_HEADER)
    if not _TIMESTAMP.fullmatch(timestamp_text):
        raise SignatureError("bad_format", f"{TIMESTAMP_HEADER} {timestamp_text[:40]!r} is not unix seconds")
    match = _SIGNATURE.fullmatch(signature_text)
    if match is None:
        raise SignatureError(
            "bad_format", f"{SIGNATURE_HEADER} {signature_text[:80]!r} is not {SIGNATURE_VERSION}=<64 hex digits>"
        )
    timestamp = int(timestamp_text)
    expected = sign(secret, timestamp, body).split("=", 1)[1]
    # Constant time: a byte-by-byte comparison would tell an attacker how much of a guess was right.
    if not hmac.compare_digest(expected, match.group(1).lower()):
        raise SignatureError("mismatch", f"{SIGNATURE_HEADER} does not match the body and timestamp")
    now_seconds = now.timestamp() if isinstance(now, datetime) else float(now)
    if timestamp < now_seconds - tolerance_seconds:
        raise SignatureError(
            "stale_timestamp",
            f"{TIMESTAMP_HEADER} {timestamp} is {now_seconds - timestamp:.0f} s old, more than {tolerance_seconds:g} s",
        )
    if timestamp > now_seconds + tolerance_seconds:
        raise SignatureError(
            "future_timestamp",
            f"{TIMESTAMP_HEADER} {timestamp} is {timestamp - now_seconds:.0f} s ahead, more than {tolerance_seconds:g} s",
        )
