"""The circuit breaker, one per platform: stop sending to a platform that is down.

It opens after ``failure_threshold`` consecutive retryable failures; while it
is open no request is sent. After ``cool_down_seconds`` it is half-open: one
request goes through as a trial, and its success closes the breaker while its
failure opens it again for another cool-down. A rejection counts as an
answer, not a failure: the platform is up.
"""

from __future__ import annotations

from collections.abc import Callable

from streams.delivery.config import BreakerSettings


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
