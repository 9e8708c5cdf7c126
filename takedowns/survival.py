"""modwatch's one Kaplan–Meier estimator: the share of requests not yet removed, over time.

Durations are ``(seconds, removed)``: a removal is an event, anything else
(still open, rejected, expired) is censored at its time. The compliance
report's medians, percentiles and plot (takedowns/compliance.py,
takedowns/compliance_plot.py) and the simulator's check of a measured median
against the configured one (sim/_median_check.py, from the survival and
Greenwood's variance) all come from :func:`kaplan_meier_steps`;
tests/test_kaplan_meier.py holds it, and its confidence band, to lifelines.
"""

from __future__ import annotations

import math
from typing import NamedTuple

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile: two-sided 95 % bands


class KaplanMeierStep(NamedTuple):
    """The estimate just after one removal time (a tuple: a large report's curves have a million)."""

    time: float
    at_risk: int  # requests still up just before ``time``, censored ones at ``time`` included
    removed: int  # removals at ``time``
    survival: float  # S(time)
    greenwood_sum: float  # sum of d / (n (n - d)) over removal times <= time; Var S = S² x this


def kaplan_meier_steps(durations: list[tuple[float, bool]]) -> list[KaplanMeierStep]:
    """The Kaplan–Meier estimate of "not yet removed", one step per removal time.

    ``durations`` are (seconds, removed). At equal times removals are counted
    before censorings, the usual convention: a request censored at t was still
    up at t. Greenwood's term is left out where every request at risk is
    removed (n = d): S is 0 from there, and so is its variance, whereas the
    term itself would be infinite (lifelines does the same).
    """
    ordered = sorted(durations)  # by time; within a time the loop below counts both kinds before moving on
    at_risk = len(ordered)
    survival, greenwood_sum = 1.0, 0.0
    steps = []
    index = 0
    while index < len(ordered):
        time = ordered[index][0]
        removed = censored = 0
        while index < len(ordered) and ordered[index][0] == time:
            if ordered[index][1]:
                removed += 1
            else:
                censored += 1
            index += 1
        if removed:
            survival *= 1 - removed / at_risk
            if at_risk > removed:
                greenwood_sum += removed / (at_risk * (at_risk - removed))
            steps.append(KaplanMeierStep(time, at_risk, removed, survival, greenwood_sum))
        at_risk -= removed + censored
    return steps


def kaplan_meier(durations: list[tuple[float, bool]]) -> list[tuple[float, float]]:
    """Survival curve S(t) of "not yet removed": [(t, S(t))] at each removal time (see :func:`kaplan_meier_steps`)."""
    return [(step.time, step.survival) for step in kaplan_meier_steps(durations)]


def survival_at(durations: list[tuple[float, bool]], at: float) -> tuple[float, float]:
    """Kaplan–Meier S(at) and Greenwood's sum at ``at`` (both of the last removal time <= at; 1 and 0 before any)."""
    survival, greenwood_sum = 1.0, 0.0
    for step in kaplan_meier_steps(durations):
        if step.time > at:
            break
        survival, greenwood_sum = step.survival, step.greenwood_sum
    return survival, greenwood_sum


def km_quantile(curve: list[tuple[float, float]], share_removed: float) -> float | None:
    """Smallest time by which ``share_removed`` of requests are estimated removed; None if never reached."""
    for time, survival in curve:
        if survival <= 1 - share_removed + 1e-12:
            return time
    return None


def confidence_band(survival: float, greenwood_sum: float, z: float = Z_95) -> tuple[float, float]:
    """Pointwise (lower, upper) bounds of S around ``survival``, from Greenwood's variance.

    The band is built on log(-log S) and mapped back (the "exponential
    Greenwood" band, lifelines' ``confidence_interval_``), so it stays within
    0 and 1 and is asymmetric where S is near either; the plain S ± z·SE band
    would cross 0 and 1 in the tails, where a few requests remain. Where S is
    1 (nothing removed yet) or 0 (every request at risk removed) the variance
    is 0 and so is the band's width.
    """
    if survival >= 1.0 or survival <= 0.0:
        return survival, survival
    log_survival = math.log(survival)
    spread = z * math.sqrt(greenwood_sum) / log_survival
    return math.exp(-math.exp(math.log(-log_survival) - spread)), math.exp(-math.exp(math.log(-log_survival) + spread))
