"""The Deliverer: a request over its platform's channel, with retries and a circuit breaker per platform.

:meth:`Deliverer.deliver` tries a request up to ``retry.max_attempts`` times
(one attempt is channels.py's; what it can come to is explained there). After
a retryable attempt the wait before the next one is ``Retry-After`` when the
platform gives one (capped by ``max_retry_after_seconds``), else exponential
backoff with full jitter. While the platform's breaker (breaker.py) is open
no call is made: the attempt waits for the cool-down and counts against the
request's attempts, so a platform that stays down ends its requests as failed
instead of holding them for ever. Every attempt is reported to ``on_attempt``.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from streams.delivery.breaker import CircuitBreaker
from streams.delivery.channels import Tried, try_email, try_outbox, try_webhook
from streams.delivery.config import ChannelConfig, EmailChannel, RetryPolicy, WebhookChannel
from takedowns import messages

ATTEMPT_OUTCOMES = messages.ATTEMPT_OUTCOMES


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
    last_attempt: dict | None = None  # the attempt that ended the delivery, as reported to ``on_attempt``

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


@dataclass(frozen=True, slots=True)
class _Delivery:
    """One request on its way: what every attempt's report and the result name."""

    request_id: str
    platform: str
    channel: str  # the channel's kind; "none" when the platform has no channel


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
            delivery = _Delivery(request_id, platform, "none")
            return await self._finish(delivery, 1, "failed", Tried("rejected", error=reason), self._clock(), reason)
        delivery = _Delivery(request_id, platform, channel.kind)
        for attempt in range(1, channel.retry.max_attempts + 1):
            result = await self._attempt_once(delivery, channel, request, attempt)
            if result is not None:
                return result
        raise AssertionError("unreachable: the last attempt always returns")

    async def _attempt_once(
        self, delivery: _Delivery, channel: ChannelConfig, request: Mapping[str, Any], attempt: int
    ) -> DeliveryResult | None:
        """Attempt number ``attempt``: the result if the delivery ends with it, else None (after the wait)."""
        started = self._clock()
        final = attempt == channel.retry.max_attempts
        breaker = self.breakers[delivery.platform]
        if not breaker.allow():
            return await self._wait_for_breaker(delivery, channel, attempt, started, final)
        try:
            tried = await self._try(channel, request)
        except BaseException:
            breaker.abandoned()
            raise
        if tried.result == "delivered":
            breaker.succeeded()
            delivered_at = tried.delivered_at or datetime.fromtimestamp(started, UTC)
            return await self._finish(delivery, attempt, "delivered", tried, started, delivered_at=delivered_at)
        if tried.result == "rejected":
            breaker.succeeded()  # the platform answered: it is up, the request is what it refused
            return await self._finish(delivery, attempt, "rejected", tried, started, f"rejected: {tried.error}")
        breaker.failed()
        if final:
            reason = f"gave up after {attempt} attempts: {tried.error}"
            return await self._finish(delivery, attempt, "failed", tried, started, reason)
        if tried.retry_after_seconds is not None:
            delay = min(tried.retry_after_seconds, channel.retry.max_retry_after_seconds)
        else:
            delay = self._backoff(channel.retry, attempt)
        await self._report(self._attempt(delivery, attempt, "retry", tried, started, delay))
        await self._sleep(delay)
        return None

    async def _wait_for_breaker(
        self, delivery: _Delivery, channel: ChannelConfig, attempt: int, started: float, final: bool
    ) -> DeliveryResult | None:
        """An attempt while the breaker is open: no call; the result if it was the last, else None (after the wait)."""
        breaker = self.breakers[delivery.platform]
        # No call while open; wait for the cool-down (with jitter, so waiting requests do not all arrive
        # at the trial together) or the backoff, whichever is longer.
        jitter = self._rng.uniform(0, channel.breaker.cool_down_seconds / 10)
        delay = max(breaker.seconds_until_trial() + jitter, self._backoff(channel.retry, attempt))
        error = f"circuit open for {delivery.platform} after {breaker.failures} consecutive failures"
        tried = Tried("retryable", error=error)
        if final:
            reason = f"{error}; gave up after {attempt} attempts"
            return await self._finish(delivery, attempt, "circuit_open", tried, started, reason)
        await self._report(self._attempt(delivery, attempt, "circuit_open", tried, started, delay))
        await self._sleep(delay)
        return None

    async def _finish(
        self,
        delivery: _Delivery,
        attempt: int,
        outcome: str,
        tried: Tried,
        started: float,
        reason: str | None = None,
        *,
        delivered_at: datetime | None = None,
    ) -> DeliveryResult:
        """Report the last attempt and say how the delivery ended."""
        last = self._attempt(delivery, attempt, outcome, tried, started, None)
        await self._report(last)
        return DeliveryResult(
            delivery.request_id,
            delivery.platform,
            delivery.channel,
            outcome,
            attempt,
            delivered_at,
            reason,
            tried.status_code,
            last,
        )

    def _backoff(self, policy: RetryPolicy, attempt: int) -> float:
        # Full jitter (uniform from 0 to the exponential cap): spreads out requests that failed together.
        return self._rng.uniform(0, policy.backoff_cap(attempt))

    def _attempt(
        self, delivery: _Delivery, number: int, outcome: str, tried: Tried, started: float, retry_in: float | None
    ) -> dict:
        """The attempt as reported to ``on_attempt``: for the ledger and the attempts metric.

        ``retry_in_seconds`` is None exactly for the attempt that ends the delivery.
        """
        return {
            "request_id": delivery.request_id,
            "platform": delivery.platform,
            "channel": delivery.channel,
            "attempt": number,
            "outcome": outcome,
            "status_code": tried.status_code,
            "error": tried.error,
            "elapsed_seconds": max(0.0, self._clock() - started),
            "at": datetime.fromtimestamp(started, UTC).isoformat(),
            "retry_in_seconds": retry_in,
        }

    async def _try(self, channel: ChannelConfig, request: Mapping[str, Any]) -> Tried:
        if isinstance(channel, WebhookChannel):
            return await try_webhook(channel, request, self._client(), self._clock)
        if isinstance(channel, EmailChannel):
            return await try_email(channel, request, self._clock)
        return await try_outbox(channel, request, self._clock)
