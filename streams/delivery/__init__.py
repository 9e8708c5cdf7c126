"""Delivering takedown requests to platforms: signed webhooks, email and an outbox folder.

Each platform has one channel, configured under ``delivery:`` in
``config/platforms.yaml`` and loaded by :func:`load_delivery_config`
(config.py):

``webhook``
    ``POST`` of the request as JSON (``orjson.dumps(request)``) to the
    platform's ``url``, signed with the platform's shared secret.
``email``
    An HTML notice over SMTP, with the signed notice JSON attached (mail.py).
``outbox``
    ``<request_id>.json`` (the signed notice) and ``<request_id>.html`` (the
    notice for a person to read) written into a folder, for portals where
    someone files the request by hand (outbox.py). It needs no secret, so a
    fresh checkout delivers somewhere without any set-up.

The notice itself (the HTML page, the plain text, the signed notice document)
depends on the request alone and is built by the pure takedown core,
takedowns/notice.py; this package does the I/O (aiohttp, smtplib, files).

**Signing** is takedowns/signing.py, shared with the status callback and the
platform simulator, and specified with test vectors in docs/signing.md. Every
request carries ``Idempotency-Key: <request_id>``, ``X-Modwatch-Timestamp``
and ``X-Modwatch-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``
over the exact body bytes; it is made afresh for every attempt, so a retry
minutes later is still inside the receiver's tolerance window. The signing
names are re-exported here for the importers that still take them from
``streams.delivery``.

**Delivering.** :meth:`Deliverer.deliver` (deliverer.py) tries a request up to
``retry.max_attempts`` times; one attempt over one channel is channels.py's:

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

The circuit breaker (breaker.py), one per platform, opens after
``failure_threshold`` consecutive retryable failures; while it is open no
request is sent. After ``cool_down_seconds`` it is half-open: one request goes
through as a trial, and its success closes the breaker while its failure
opens it again for another cool-down. A rejection counts as an answer, not a
failure: the platform is up.

Every attempt is reported to ``on_attempt`` as a dict (``request_id``,
``platform``, ``channel``, ``attempt``, ``outcome``, ``status_code``,
``error``, ``elapsed_seconds``, ``at``, ``retry_in_seconds``) for the ledger
and ``modwatch_delivery_attempts_total{platform,outcome}``. The last
attempt of a delivery is ``delivered``, ``rejected``, ``failed`` or
``circuit_open``; all but the first end the request as ``delivery_failed``.

Sleeping, the clock and the jitter's random numbers are parameters, so tests
run without waiting and always draw the same delays.
"""

from streams.delivery.breaker import CircuitBreaker
from streams.delivery.channels import ERROR_BODY_CHARACTERS, USER_AGENT, retry_after_seconds
from streams.delivery.config import (
    CHANNEL_KINDS,
    DEFAULT_OUTBOX_ROOT,
    ENVIRONMENT_NAME_PATTERN,
    BreakerSettings,
    ChannelConfig,
    EmailChannel,
    OutboxChannel,
    RetryPolicy,
    WebhookChannel,
    load_delivery_config,
)
from streams.delivery.deliverer import ATTEMPT_OUTCOMES, Deliverer, DeliveryResult
from streams.delivery.mail import email_message
from streams.delivery.outbox import REQUEST_ID_PATTERN, write_outbox
from takedowns.notice import notice_document, render_notice_html, request_body
from takedowns.signing import (
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

__all__ = [
    "ATTEMPT_OUTCOMES",
    "CHANNEL_KINDS",
    "DEFAULT_OUTBOX_ROOT",
    "ENVIRONMENT_NAME_PATTERN",
    "ERROR_BODY_CHARACTERS",
    "IDEMPOTENCY_HEADER",
    "MINIMUM_SECRET_BYTES",
    "REQUEST_ID_PATTERN",
    "SIGNATURE_ERROR_REASONS",
    "SIGNATURE_HEADER",
    "SIGNATURE_TOLERANCE_SECONDS",
    "SIGNATURE_VERSION",
    "TIMESTAMP_HEADER",
    "USER_AGENT",
    "BreakerSettings",
    "ChannelConfig",
    "CircuitBreaker",
    "Deliverer",
    "DeliveryResult",
    "EmailChannel",
    "OutboxChannel",
    "RetryPolicy",
    "SignatureError",
    "WebhookChannel",
    "email_message",
    "load_delivery_config",
    "notice_document",
    "render_notice_html",
    "request_body",
    "retry_after_seconds",
    "sign",
    "signature_headers",
    "verify",
    "write_outbox",
]
