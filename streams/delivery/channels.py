"""One attempt over one channel: a webhook POST, an SMTP session or the outbox files.

Each ``try_*`` makes one attempt and says what it came to (:class:`Tried`):

- delivered: a 2xx answer (the mail server accepted the message; the files
  are in the outbox).
- retryable: a 5xx answer, 429, a timeout or a connection error (SMTP: a 4xx
  reply or a dropped connection), with the platform's ``Retry-After`` when it
  gives one.
- rejected: any other 4xx, or a 3xx (redirects are not followed: the signed
  request must not be forwarded elsewhere); SMTP: a 5xx reply. Sending the
  same request again would get the same answer.

Whether and when to try again is the Deliverer's (deliverer.py).
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from streams.delivery.config import EmailChannel, OutboxChannel, WebhookChannel
from streams.delivery.mail import email_message, send_email
from streams.delivery.outbox import safe_request_id, write_outbox
from takedowns.notice import request_body
from takedowns.signing import signature_headers

# How much of a platform's error answer is kept in an attempt's `error`: enough
# for its message, not a whole HTML error page in the ledger.
ERROR_BODY_CHARACTERS = 300
USER_AGENT = "modwatch-delivery/1"


@dataclass(frozen=True, slots=True)
class Tried:
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


async def try_webhook(
    channel: WebhookChannel,
    request: Mapping[str, Any],
    session: aiohttp.ClientSession,
    clock: Callable[[], float],
) -> Tried:
    """One ``POST`` of the signed request; redirects are not followed."""
    body = request_body(request)
    # Signed per attempt: a retry minutes later must still be inside the receiver's window.
    headers = signature_headers(str(request["request_id"]), channel.secret, int(clock()), body)
    headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        async with session.post(
            channel.url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=channel.retry.timeout_seconds),
            allow_redirects=False,
        ) as response:
            status = response.status
            if 200 <= status < 300:
                return Tried("delivered", status)
            answer = (await response.content.read(ERROR_BODY_CHARACTERS * 4)).decode("utf-8", "replace")
            error = f"HTTP {status}" + (f": {answer[:ERROR_BODY_CHARACTERS]}" if answer.strip() else "")
            if status == 429 or status >= 500:
                wait = retry_after_seconds(response.headers.get("Retry-After"), clock())
                return Tried("retryable", status, error, wait)
            if 300 <= status < 400:
                error += f" (redirect to {response.headers.get('Location')!r} not followed)"
            return Tried("rejected", status, error)
    except TimeoutError:
        return Tried("retryable", error=f"no answer within {channel.retry.timeout_seconds:g} s")
    except aiohttp.ClientError as error:
        return Tried("retryable", error=f"{type(error).__name__}: {error}")


async def try_email(channel: EmailChannel, request: Mapping[str, Any], clock: Callable[[], float]) -> Tried:
    """One SMTP session, in a thread: a 4xx reply is worth another try, a 5xx is a refusal."""
    message = email_message(channel, request, int(clock()))
    try:
        await asyncio.get_running_loop().run_in_executor(None, send_email, channel, message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        transient = any(400 <= code < 500 for code in codes)
        detail = "; ".join(f"{to}: {code} {_decode(text)}" for to, (code, text) in error.recipients.items())
        return Tried(
            "retryable" if transient else "rejected", codes[0] if codes else None, f"recipients refused: {detail}"
        )
    except smtplib.SMTPResponseException as error:
        transient = 400 <= error.smtp_code < 500
        return Tried(
            "retryable" if transient else "rejected",
            error.smtp_code,
            f"SMTP {error.smtp_code} {_decode(error.smtp_error)}",
        )
    except smtplib.SMTPNotSupportedError as error:
        return Tried("rejected", error=f"the mail server does not support it: {error}")
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        # Connection refused, reset or timed out; a server that hung up: try again later.
        return Tried("retryable", error=f"{type(error).__name__}: {error}")
    return Tried("delivered", 250)


async def try_outbox(channel: OutboxChannel, request: Mapping[str, Any], clock: Callable[[], float]) -> Tried:
    """Write the notice files, in a thread; delivered once they are on disk."""
    try:
        safe_request_id(request.get("request_id"))
    except ValueError as error:
        return Tried("rejected", error=str(error))
    try:
        notice = await asyncio.get_running_loop().run_in_executor(
            None, write_outbox, channel.folder, request, channel.secret, clock()
        )
    except OSError as error:
        return Tried("retryable", error=f"cannot write to {channel.folder}: {error}")
    except (ValueError, KeyError) as error:
        # A notice file for this id that is not one of ours (edited by hand?): a person must look.
        return Tried("rejected", error=f"{channel.folder}: the notice already there is unreadable: {error!r}")
    # Written once per request id: a repeat delivery reports when it was first filed.
    return Tried("delivered", delivered_at=datetime.fromisoformat(notice["prepared_at"]))


def _decode(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
