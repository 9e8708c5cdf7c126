"""The compliance dashboard's numbers equal the ledger's, from the first removal and
across a worker restart.

A real Prometheus scrapes a real worker every second. Removals come in two waves
with a worker restart between them. After each wave, the dashboard's own queries
(the p50/p90 recording rules and the "by category and jurisdiction" panel) are
compared with what the ledger topic says: the quantile that Prometheus's
histogram_quantile computes from the ledger's times to removal in the same
buckets, and the number of removals.

The first removal counts only if its series existed, at zero, before it: a series
born with its first increment is invisible to rate() and increase(). The restart
resets every counter, and the series come back at zero.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta

import pytest

from tests.conftest import consume, post, produce
from tests.test_compose import dashboard_queries
from tests.test_prometheus_integration import (
    VIOLATING,
    Prometheus,
    compliance_env,  # noqa: F401 (a fixture)
    require_prometheus,
    status,
    time_to_removal_buckets,
    wait_for_worker,
)

pytestmark = pytest.mark.kafka

# Seconds from request to removal. x is under PK, tiktok under EU (compliance_env).
FIRST_WAVE = {"x:a1": 30, "x:a2": 400, "x:a3": 2000, "x:a4": 20000, "tiktok:b1": 100, "tiktok:b2": 4000}
SECOND_WAVE = {"x:c1": 90, "x:c2": 700, "tiktok:d1": 200, "tiktok:d2": 3500, "tiktok:d3": 50000}


def histogram_quantile(q: float, seconds: list[float], bounds: list[float]) -> float:
    """Prometheus's histogram_quantile over ``seconds`` put in buckets with these upper bounds
    (+Inf last): the rank's bucket, then linear interpolation inside it."""
    cumulative = [sum(value <= bound for value in seconds) for bound in bounds]
    rank = q * cumulative[-1]
    index = next((i for i, count in enumerate(cumulative[:-1]) if count >= rank), len(bounds) - 1)
    if index == len(bounds) - 1:
        return bounds[-2]
    lower = bounds[index - 1] if index else 0.0
    below = cumulative[index - 1] if index else 0
    return lower + (bounds[index] - lower) * (rank - below) / (cumulative[index] - below)


def ledger_removals(bootstrap: str, prefix: str, expect: int) -> list[dict]:
    """The ledger's transitions to removed."""
    ledger = consume(bootstrap, f"{prefix}.ledger", expect=expect, settle=1.0)
    removed = [record for _, record in ledger if record and record.get("to") == "removed"]
    assert len(removed) == expect, f"{len(removed)} removals in the ledger, expected {expect}"
    return removed


def seconds_to_removal(transition: dict) -> float:
    return (
        datetime.fromisoformat(transition["removed_at"]) - datetime.fromisoformat(transition["requested_at"])
    ).total_seconds()


def request_posts(bootstrap: str, prefix: str, items: dict[str, int], already: int) -> dict:
    produce(bootstrap, f"{prefix}.posts", [post(*item.split(":"), VIOLATING) for item in items])
    requests = dict(consume(bootstrap, f"{prefix}.takedown-requests", expect=already + len(items), settle=0.5))
    assert set(items) <= set(requests), f"no requests for {set(items) - set(requests)}"
    return requests


def remove(bootstrap: str, prefix: str, requests: dict, items: dict[str, int]) -> None:
    produce(
        bootstrap,
        f"{prefix}.platform-status",
        [
            status(item, "removed", datetime.fromisoformat(requests[item]["requested_at"]) + timedelta(seconds=seconds))
            for item, seconds in items.items()
        ],
    )


def dashboard_query(title: str) -> str:
    (promql,) = [query for where, query in dashboard_queries() if f"{title!r}" in where]
    return promql


def check_against_ledger(prometheus: Prometheus, removed: list[dict]) -> None:
    bounds = time_to_removal_buckets()
    by_platform: dict[str, list[float]] = {}
    for transition in removed:
        by_platform.setdefault(transition["platform"], []).append(seconds_to_removal(transition))
    for q, rule in ((0.5, "p50"), (0.9, "p90")):
        expected = {(platform,): histogram_quantile(q, seconds, bounds) for platform, seconds in by_platform.items()}
        promql = f"job_platform:modwatch_time_to_removal_seconds:{rule}_rate1d"

        def equal(result, expected=expected):
            got = {(series["metric"]["platform"],): float(series["value"][1]) for series in result}
            got = {labels: value for labels, value in got.items() if not math.isnan(value)}
            return set(got) == set(expected) and all(math.isclose(got[k], expected[k], rel_tol=1e-9) for k in got)

        prometheus.wait_until(promql, equal, what=f"{rule} per platform equal to the ledger's {expected}")

    # Removals by category and jurisdiction, at the moment of the last scrape: no extrapolation.
    scraped_at = float(prometheus.query('timestamp(up{job="modwatch"})')[0]["value"][1])
    answer = prometheus.api(
        "query", query=dashboard_query("Removals by category and jurisdiction (last day)"), time=scraped_at
    )
    got = {
        (series["metric"]["category"], series["metric"]["jurisdiction"]): float(series["value"][1])
        for series in answer["data"]["result"]
    }
    expected: dict[tuple[str, str], int] = {}
    for transition in removed:
        labels = (transition["categories"][0], transition["jurisdiction"])
        expected[labels] = expected.get(labels, 0) + 1
    assert {labels: count for labels, count in got.items() if count} == expected, json.dumps(answer)[:2000]


def test_compliance_numbers_equal_the_ledger_from_the_first_removal_and_after_a_restart(
    compliance_env,  # noqa: F811 (the fixture imported above)
    start_worker,
    kafka_bootstrap,
    tmp_path,
):
    env, prefix = compliance_env, compliance_env["MODWATCH_TOPIC_PREFIX"]
    prometheus = Prometheus(require_prometheus(), tmp_path, env["MODWATCH_WEB_PORT"])
    worker = start_worker(env)
    try:
        prometheus.start()
        # The series exist at zero before anything happens.
        prometheus.wait_until(
            'modwatch_time_to_removal_seconds_count{platform="x", category="terrorism_promotion", jurisdiction="PK"}',
            lambda result: len(result) == 1 and float(result[0]["value"][1]) == 0,
            what="x's time-to-removal series at zero from start-up",
        )

        requests = request_posts(kafka_bootstrap, prefix, FIRST_WAVE, already=0)
        remove(kafka_bootstrap, prefix, requests, FIRST_WAVE)
        wait_for_worker(
            env,
            [
                r'modwatch_time_to_removal_seconds_count\{[^}]*platform="x"\} 4\.0',
                r'modwatch_time_to_removal_seconds_count\{[^}]*platform="tiktok"\} 2\.0',
            ],
        )
        check_against_ledger(prometheus, ledger_removals(kafka_bootstrap, prefix, len(FIRST_WAVE)))

        # A restart: every counter starts again from zero, the ledger and the tables do not.
        worker.stop()
        stopped_at = time.time()
        prometheus.wait_until(
            'up{job="modwatch"}', lambda result: result and float(result[0]["value"][1]) == 0, what="the worker down"
        )
        start_worker(env)
        prometheus.wait_for_scrape_after(stopped_at)

        requests = request_posts(kafka_bootstrap, prefix, SECOND_WAVE, already=len(FIRST_WAVE))
        remove(kafka_bootstrap, prefix, requests, SECOND_WAVE)
        wait_for_worker(env, [r'modwatch_time_to_removal_seconds_count\{[^}]*platform="tiktok"\} 3\.0'])
        check_against_ledger(prometheus, ledger_removals(kafka_bootstrap, prefix, len(FIRST_WAVE) + len(SECOND_WAVE)))
    finally:
        prometheus.stop()
