"""Checking a measured median time to removal against the configured one.

A simulator run measures each platform's time to removal with open requests
censored (takedowns/compliance.py); :func:`median_agrees` says whether the
configured median lies in the Brookmeyer-Crowley confidence interval of the
measured one, from takedowns.survival's Kaplan-Meier survival and
Greenwood's variance (tests/test_simulator.py explains the tolerance).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass
from statistics import NormalDist

from takedowns.survival import survival_at

_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class MedianCheck:
    agrees: bool
    expected_median_seconds: float
    survival_at_expected: float  # Kaplan-Meier share still up at the expected median
    standard_error: float  # Greenwood
    z: float
    removed: int
    censored: int

    def describe(self) -> str:
        return (
            f"S({self.expected_median_seconds:.0f} s) = {self.survival_at_expected:.3f} "
            f"± {self.z:.2f} x {self.standard_error:.3f} (n = {self.removed} removed, {self.censored} censored): "
            + ("agrees" if self.agrees else "DISAGREES")
        )


def median_agrees(
    durations: list[tuple[float, bool]],
    expected_median_seconds: float,
    *,
    confidence: float = 0.999,
    slack_seconds: float = 0.0,
) -> MedianCheck:
    """Does the configured median lie in the Brookmeyer-Crowley confidence interval of the measured one?

    ``durations`` are (seconds to removal or to censoring, removed). The
    interval of the Kaplan-Meier median is the set of times t whose estimated
    survival S(t) is within z standard errors (Greenwood) of 0.5; so the
    configured median m agrees when ``|S(m) - 0.5| <= z * se(S(m))``. It is
    distribution-free, handles open (censored) requests, and without censoring
    reduces to the binomial test of how many removals fall below m. With
    ``slack_seconds`` (delivery delay: measured = drawn + delay) any m' in
    [m, m + slack] may agree.
    """
    z = _STANDARD_NORMAL.inv_cdf(0.5 + confidence / 2)

    def check_at(moment: float) -> MedianCheck:
        survival, variance_sum = survival_at(durations, moment)
        # Greenwood's standard error at the observed S shrinks as S nears 0 or 1, so a small
        # sample far from the median would disagree far more often than the stated level;
        # it is never taken below the binomial one at S = 0.5 (the null: m is the median),
        # and that one is used before the first removal, where Greenwood's is 0.
        null_error = math.sqrt(0.25 / max(len(durations), 1))
        error = max(survival * math.sqrt(variance_sum), null_error) if variance_sum > 0 else null_error
        return MedianCheck(
            agrees=abs(survival - 0.5) <= z * max(error, 1e-12),
            expected_median_seconds=expected_median_seconds,
            survival_at_expected=survival,
            standard_error=error,
            z=z,
            removed=sum(removed for _, removed in durations),
            censored=sum(not removed for _, removed in durations),
        )

    low = check_at(expected_median_seconds)
    if low.agrees or not slack_seconds:
        return low
    high = check_at(expected_median_seconds + slack_seconds)
    # S(t) falls with t: if it crosses 0.5 inside the slack, some m' in it is the median itself.
    crossed = low.survival_at_expected >= 0.5 >= high.survival_at_expected
    return MedianCheck(high.agrees or crossed, *astuple(low)[1:])
