"""modwatch's one Kaplan–Meier estimator (takedowns/survival.py) against lifelines' KaplanMeierFitter.

The compliance report's medians and 90th percentiles and the simulator's
median check (Greenwood's variance, sim/_median_check.py) all come from
``kaplan_meier_steps``; lifelines (pinned in the test extras) is the oracle.
Each data set is drawn from a fixed seed, with censoring and ties between
removals, between censorings and between the two, so the conventions are
checked too: at an equal time removals count before censorings, and where
every request still at risk is removed (S falls to 0) Greenwood's term is
left out, as lifelines does.

lifelines computes S(t) as exp(sum log(1 - d/n)), we as a product: they
agree to about 1e-15, hence the 1e-9 tolerances. A quantile is the first
removal time with S(t) <= 1 - share; where S(t) equals that bound exactly,
the two roundings may fall either side of it, and the time where S(t) meets
the bound is the answer both mean.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import qth_survival_time

from takedowns.survival import confidence_band, kaplan_meier, kaplan_meier_steps, km_quantile, survival_at

TOLERANCE = 1e-9
Z_95 = 1.959963984540054  # lifelines' default alpha 0.05


def _minutes(rng: random.Random, count: int, censored_share: float) -> list[tuple[float, bool]]:
    """Times to removal in whole minutes (many ties), a share of them censored."""
    return [(float(round(rng.expovariate(1 / 240))), rng.random() >= censored_share) for _ in range(count)]


def _small_integers(rng: random.Random, count: int, censored_share: float) -> list[tuple[float, bool]]:
    """Only ten distinct times: every time has several removals and censorings."""
    return [(float(rng.randint(1, 10)), rng.random() >= censored_share) for _ in range(count)]


def _continuous(rng: random.Random, count: int) -> list[tuple[float, bool]]:
    """Lognormal removals censored by a uniform follow-up time: no ties, like a simulator run."""
    durations = []
    for _ in range(count):
        removal, follow_up = rng.lognormvariate(8, 1), rng.uniform(0, 20000)
        durations.append((min(removal, follow_up), removal <= follow_up))
    return durations


def _data_sets() -> dict[str, list[tuple[float, bool]]]:
    rng = random.Random(20261129)
    return {
        "minutes, 30 % censored": _minutes(rng, 400, 0.3),
        "minutes, 70 % censored (p90 never reached)": _minutes(rng, 200, 0.7),
        "ten times, 40 % censored": _small_integers(rng, 150, 0.4),
        "ten times, small sample": _small_integers(rng, 12, 0.25),
        "continuous, censored by follow-up": _continuous(rng, 300),
        # S falls exactly to 0.5 after the 5th of 10 and to 0.1 after the 9th.
        "uncensored, exactly half": [(float(seconds), True) for seconds in range(10, 110, 10)],
        # The last request at risk is removed: S falls to 0, Greenwood's term for it is left out.
        "ends in a removal": [(1.0, True), (2.0, False), (2.0, True), (3.0, True), (3.0, True), (4.0, True)],
        "censored at a removal time": [(5.0, False), (5.0, True), (5.0, True), (7.0, False), (8.0, True), (9.0, False)],
    }


DATA_SETS = _data_sets()


def _fit(durations: list[tuple[float, bool]]) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit([seconds for seconds, _ in durations], [removed for _, removed in durations])


def _lifelines_survival(fitter: KaplanMeierFitter, times) -> np.ndarray:
    return fitter.survival_function_at_times(list(times)).to_numpy()


def _lifelines_greenwood(fitter: KaplanMeierFitter, times) -> np.ndarray:
    # lifelines keeps Greenwood's sum (its confidence band is built on it) in `_cumulative_sq_`,
    # one value per time of its timeline; between those times it holds the last one.
    greenwood = fitter._cumulative_sq_
    return np.array(
        [greenwood[greenwood.index <= time].iloc[-1] if time >= greenwood.index[0] else 0.0 for time in times]
    )


@pytest.mark.parametrize("name", list(DATA_SETS))
def test_survival_at_every_removal_time_matches_lifelines(name):
    durations = DATA_SETS[name]
    fitter = _fit(durations)
    steps = kaplan_meier_steps(durations)
    table = fitter.event_table
    removal_times = [float(time) for time in table.index[table["observed"] > 0]]
    assert [step.time for step in steps] == removal_times
    assert [step.removed for step in steps] == [int(table.at[time, "observed"]) for time in removal_times]
    assert [step.at_risk for step in steps] == [int(table.at[time, "at_risk"]) for time in removal_times]
    expected = _lifelines_survival(fitter, removal_times)
    assert [step.survival for step in steps] == pytest.approx(expected, abs=TOLERANCE)
    assert kaplan_meier(durations) == [(step.time, step.survival) for step in steps]


@pytest.mark.parametrize("name", list(DATA_SETS))
def test_greenwood_sum_matches_lifelines_at_every_removal_time(name):
    durations = DATA_SETS[name]
    fitter = _fit(durations)
    steps = kaplan_meier_steps(durations)
    expected = _lifelines_greenwood(fitter, [step.time for step in steps])
    assert [step.greenwood_sum for step in steps] == pytest.approx(expected, rel=TOLERANCE, abs=TOLERANCE)


@pytest.mark.parametrize("name", list(DATA_SETS))
def test_survival_and_greenwood_at_any_time_match_lifelines(name):
    """survival_at between, at and beyond the observed times (censoring times included)."""
    durations = DATA_SETS[name]
    fitter = _fit(durations)
    observed = sorted({seconds for seconds, _ in durations})
    between = [(low + high) / 2 for low, high in zip(observed, observed[1:], strict=False)]
    times = [observed[0] / 2, *observed, *between, observed[-1] + 1.0]
    ours = [survival_at(durations, time) for time in times]
    assert [survival for survival, _ in ours] == pytest.approx(_lifelines_survival(fitter, times), abs=TOLERANCE)
    expected = _lifelines_greenwood(fitter, times)
    assert [greenwood for _, greenwood in ours] == pytest.approx(expected, rel=TOLERANCE, abs=TOLERANCE)


@pytest.mark.parametrize("name", list(DATA_SETS))
def test_greenwood_gives_lifelines_confidence_band(name):
    """Our S and Greenwood sum, put through lifelines' exponential Greenwood formula, give its band."""
    durations = DATA_SETS[name]
    fitter = _fit(durations)
    band = fitter.confidence_interval_
    checked = 0
    for step in kaplan_meier_steps(durations):
        if not 0 < step.survival < 1:
            continue  # the band is 1 where log S is 0, undefined where S is 0
        log_survival = math.log(step.survival)
        spread = Z_95 * math.sqrt(step.greenwood_sum) / log_survival
        lower = math.exp(-math.exp(math.log(-log_survival) - spread))
        upper = math.exp(-math.exp(math.log(-log_survival) + spread))
        assert (lower, upper) == pytest.approx(tuple(band.loc[step.time]), abs=TOLERANCE), step
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("name", list(DATA_SETS))
def test_confidence_band_is_lifelines_confidence_interval_at_every_removal_time(name):
    """The band the report's plot shades: lifelines' log-log (exponential Greenwood) 95 % interval,
    where S falls to 0 too (both give 0 to 0 there)."""
    durations = DATA_SETS[name]
    band = _fit(durations).confidence_interval_
    steps = kaplan_meier_steps(durations)
    ours = [confidence_band(step.survival, step.greenwood_sum) for step in steps]
    expected = [tuple(band.loc[step.time]) for step in steps]
    assert [bound for pair in ours for bound in pair] == pytest.approx(
        [bound for pair in expected for bound in pair], abs=TOLERANCE
    )
    assert all(lower <= step.survival <= upper for (lower, upper), step in zip(ours, steps, strict=True))
    assert confidence_band(1.0, 0.0) == (1.0, 1.0)  # before the first removal, as lifelines' first row


def _expected_quantile(fitter: KaplanMeierFitter, share_removed: float) -> float | None:
    bound = 1 - share_removed
    curve = fitter.survival_function_.iloc[:, 0]
    exact = [float(time) for time, survival in curve.items() if abs(survival - bound) <= TOLERANCE]
    if exact:
        return exact[0]
    answer = qth_survival_time(bound, curve)
    return None if math.isinf(answer) else float(answer)


@pytest.mark.parametrize("name", list(DATA_SETS))
def test_median_and_90th_percentile_match_lifelines(name):
    durations = DATA_SETS[name]
    fitter = _fit(durations)
    curve = kaplan_meier(durations)
    median = km_quantile(curve, 0.5)
    assert median == _expected_quantile(fitter, 0.5)
    if not math.isinf(fitter.median_survival_time_) and median != fitter.median_survival_time_:
        # Only where S meets 1/2 exactly may lifelines' rounding step past it.
        assert survival_at(durations, median)[0] == pytest.approx(0.5, abs=TOLERANCE)
    assert km_quantile(curve, 0.9) == _expected_quantile(fitter, 0.9)


def test_the_data_sets_cover_ties_censoring_and_unreached_quantiles():
    """The cases above are there: a check that passes on easy data alone would prove little."""
    tied = [name for name, durations in DATA_SETS.items() if len({s for s, _ in durations}) < len(durations)]
    mixed_ties = [
        name
        for name, durations in DATA_SETS.items()
        if {s for s, removed in durations if removed} & {s for s, removed in durations if not removed}
    ]
    unreached = [name for name, durations in DATA_SETS.items() if km_quantile(kaplan_meier(durations), 0.9) is None]
    exact_half = [name for name, durations in DATA_SETS.items() if any(s == 0.5 for _, s in kaplan_meier(durations))]
    falls_to_zero = [name for name, durations in DATA_SETS.items() if kaplan_meier(durations)[-1][1] == 0]
    assert len(tied) >= 4 and len(mixed_ties) >= 3
    assert unreached and exact_half and falls_to_zero
