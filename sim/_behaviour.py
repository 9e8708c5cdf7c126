"""How each simulated platform behaves: its latency distribution, the share it ignores, its callbacks.

:func:`load_platforms_config` reads the ``clock``, ``webhooks`` and
``platforms`` sections of sim/config.yaml into a :class:`PlatformsConfig`,
one :class:`PlatformBehaviour` per platform. Each behaviour's
:class:`LatencyModel` gives the time from a request's arrival to removal in
*platform seconds* (sim/platforms.py explains how the platforms compress the
waiting, never the timestamps), and the quantiles a Kaplan-Meier estimate
over every request converges to (:meth:`PlatformBehaviour.removal_quantile`),
which sim/_median_check.py checks measured medians against.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from statistics import NormalDist
from types import MappingProxyType

from detectors.configfile import Document
from takedowns.signing import SIGNATURE_TOLERANCE_SECONDS

DISTRIBUTIONS = frozenset({"lognormal", "exponential", "weibull", "fixed"})
# A platform verifies modwatch's webhooks with modwatch's own window (takedowns/signing.py).
MAX_CLOCK_SKEW_SECONDS = SIGNATURE_TOLERANCE_SECONDS
# The contract accepts timestamps up to one day ahead; 23 h leaves an hour for clock drift.
MAX_REPORT_AHEAD_SECONDS = 23 * 3600
_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Time from a request's arrival to removal, in platform seconds.

    ``lognormal`` is given by its median and sigma, or by ``share_within_deadline``
    (the median is then ``deadline * exp(-z * sigma)``, z the normal quantile of
    that share, so exactly that share of draws falls within the request's deadline).
    """

    distribution: str
    median_seconds: float | None = None
    sigma: float = 1.0
    mean_seconds: float | None = None
    shape: float = 1.0
    seconds: float | None = None
    share_within_deadline: float | None = None
    deadline_seconds: float = 48 * 3600

    def median(self, deadline_seconds: float | None = None) -> float:
        return self.quantile(0.5, deadline_seconds)

    def _lognormal_median(self, deadline_seconds: float | None) -> float:
        if self.share_within_deadline is None:
            return self.median_seconds
        deadline = self.deadline_seconds if deadline_seconds is None else deadline_seconds
        return deadline * math.exp(-_STANDARD_NORMAL.inv_cdf(self.share_within_deadline) * self.sigma)

    def quantile(self, share: float, deadline_seconds: float | None = None) -> float:
        """The latency below which ``share`` (0 < share < 1) of draws fall."""
        if self.distribution == "fixed":
            return self.seconds
        if self.distribution == "exponential":
            return -self.mean_seconds * math.log1p(-share)
        if self.distribution == "weibull":
            return self._weibull_scale() * (-math.log1p(-share)) ** (1 / self.shape)
        return self._lognormal_median(deadline_seconds) * math.exp(self.sigma * _STANDARD_NORMAL.inv_cdf(share))

    def cdf(self, seconds: float, deadline_seconds: float | None = None) -> float:
        if seconds <= 0:
            return 0.0
        if self.distribution == "fixed":
            return 1.0 if seconds >= self.seconds else 0.0
        if self.distribution == "exponential":
            return -math.expm1(-seconds / self.mean_seconds)
        if self.distribution == "weibull":
            return -math.expm1(-((seconds / self._weibull_scale()) ** self.shape))
        return _STANDARD_NORMAL.cdf(math.log(seconds / self._lognormal_median(deadline_seconds)) / self.sigma)

    def draw(self, rng: random.Random, deadline_seconds: float | None = None) -> float:
        """One latency; always one number from ``rng``, so the streams of every platform stay aligned."""
        return self.quantile(_open_unit(rng.random()), deadline_seconds)

    def _weibull_scale(self) -> float:
        # Parametrised by its median, like the others: median = scale * ln(2) ** (1 / shape).
        return self.median_seconds / math.log(2) ** (1 / self.shape)


def _open_unit(value: float) -> float:
    """random() is in [0, 1); the quantile functions need (0, 1)."""
    return min(max(value, 1e-12), 1 - 1e-12)


@dataclass(frozen=True, slots=True)
class PlatformBehaviour:
    name: str
    latency: LatencyModel
    ignore_share: float = 0.0
    callback: bool = True

    def removal_quantile(self, share: float, deadline_seconds: float | None = None) -> float:
        """Time by which ``share`` of *all* requests are removed (ignored ones never are): inf if never.

        This is what a Kaplan-Meier estimate over every request converges to,
        e.g. telegram's median with 40 % ignored is the latency's 83rd percentile.
        """
        acted_on = 1.0 - self.ignore_share
        if share >= acted_on:
            return math.inf
        return self.latency.quantile(share / acted_on, deadline_seconds)

    def expected_median_seconds(self, deadline_seconds: float | None = None) -> float:
        return self.removal_quantile(0.5, deadline_seconds)


@dataclass(frozen=True, slots=True)
class PlatformsConfig:
    platforms: Mapping[str, PlatformBehaviour]
    time_scale: float = 600.0
    max_report_ahead_seconds: float = MAX_REPORT_AHEAD_SECONDS
    max_clock_skew_seconds: float = MAX_CLOCK_SKEW_SECONDS
    callback_attempts: int = 5
    callback_first_retry_seconds: float = 0.5
    seed: int = 20261129

    def with_time_scale(self, time_scale: float) -> PlatformsConfig:
        return replace(self, time_scale=time_scale)


def load_platforms_config(
    document: Document, known_platforms: frozenset[str] | None = None, seed: int = 20261129
) -> PlatformsConfig:
    """The ``clock``, ``webhooks`` and ``platforms`` sections of sim/config.yaml; problems go to the document."""
    behaviours = {}
    for name in document.mapping(("platforms",), required=True):
        where = ("platforms", name)
        document.mapping(where, required=True)
        if known_platforms is not None and name not in known_platforms:
            document.problem(where, f"{name!r} is not in config/platforms.yaml ({', '.join(sorted(known_platforms))})")
        callback = document.get(where + ("callback",), True)
        if not isinstance(callback, bool):
            document.problem(where + ("callback",), f"must be true or false, not {callback!r}")
            callback = True
        behaviours[name] = PlatformBehaviour(
            name=name,
            latency=_load_latency(document, where + ("latency",)),
            ignore_share=document.number(where + ("ignore_share",), default=0.0, minimum=0.0, maximum=0.99),
            callback=callback,
        )
    return PlatformsConfig(
        platforms=MappingProxyType(behaviours),
        time_scale=document.number(("clock", "time_scale"), default=600.0, minimum=1e-3),
        max_report_ahead_seconds=document.number(
            ("clock", "max_report_ahead_seconds"), default=MAX_REPORT_AHEAD_SECONDS, minimum=0.0, maximum=86400.0
        ),
        max_clock_skew_seconds=document.number(
            ("webhooks", "max_clock_skew_seconds"), default=MAX_CLOCK_SKEW_SECONDS, minimum=1.0
        ),
        callback_attempts=int(document.number(("webhooks", "callback_attempts"), default=5, minimum=1, maximum=20)),
        callback_first_retry_seconds=document.number(
            ("webhooks", "callback_first_retry_seconds"), default=0.5, minimum=0.0
        ),
        seed=seed,
    )


def _load_latency(document: Document, where: tuple) -> LatencyModel:
    document.mapping(where, required=True)
    named = document.get(where + ("distribution",))
    if named is None:
        document.problem(where + ("distribution",), f"is required ({', '.join(sorted(DISTRIBUTIONS))})")
        return LatencyModel("fixed", seconds=1.0)
    distribution = document.choice(where + ("distribution",), DISTRIBUTIONS, default="")
    if not distribution:
        return LatencyModel("fixed", seconds=1.0)  # reported; its parameters mean nothing yet

    def positive(name: str, required: bool = True) -> float | None:
        if document.get(where + (name,)) is None:
            if required:
                document.problem(where + (name,), f"is required for a {distribution} latency")
            return None
        return document.number(where + (name,), default=1.0, minimum=1e-9)

    allowed = {
        "lognormal": {"median_seconds", "sigma", "share_within_deadline", "deadline_seconds"},
        "exponential": {"mean_seconds"},
        "weibull": {"median_seconds", "shape"},
        "fixed": {"seconds"},
    }[distribution] | {"distribution"}
    for name in document.mapping(where):
        if name not in allowed:
            document.problem(
                where + (name,),
                f"is not a parameter of a {distribution} latency ({', '.join(sorted(allowed - {'distribution'}))})",
            )
    if distribution == "lognormal":
        share = document.get(where + ("share_within_deadline",))
        median = document.get(where + ("median_seconds",))
        if (share is None) == (median is None):
            document.problem(where, "a lognormal latency needs exactly one of median_seconds and share_within_deadline")
        return LatencyModel(
            "lognormal",
            median_seconds=positive("median_seconds", required=False),
            sigma=positive("sigma") or 1.0,
            share_within_deadline=(
                document.number(where + ("share_within_deadline",), default=0.5, minimum=0.01, maximum=0.999)
                if share is not None
                else None
            ),
            deadline_seconds=positive("deadline_seconds", required=False) or 48 * 3600,
        )
    if distribution == "exponential":
        return LatencyModel("exponential", mean_seconds=positive("mean_seconds") or 1.0)
    if distribution == "weibull":
        return LatencyModel("weibull", median_seconds=positive("median_seconds") or 1.0, shape=positive("shape") or 1.0)
    return LatencyModel("fixed", seconds=positive("seconds") or 1.0)
