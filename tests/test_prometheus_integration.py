"""A real Prometheus scrapes a live worker: the documented series, the time-to-removal
histogram per platform, the recording rules, and every dashboard query return data.

The session's broker, one worker (1-second tick) and Debian's ``prometheus`` binary,
which scrapes the worker every second and loads the repository's rule files with a
config derived from deploy/prometheus/prometheus.yml. Traffic comes in two waves, so
that every series increases while Prometheus watches. tests/test_prometheus_restart.py
checks the compliance numbers against the ledger, across a worker restart.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
import yaml
from prometheus_client import CollectorRegistry

from streams.metrics import Metrics
from tests.conftest import ROOT, consume, free_port, post, produce
from tests.test_compose import dashboard_queries, series_names

pytestmark = pytest.mark.kafka

PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"
NAME_ONLY = "A documentary about the Haqqani Network"  # flagged for review, not takedown
CLEAN = "Lovely weather in Lahore today"

# Metrics streams/metrics.py declares that nothing produces under the test config. A query on one of
# them is excluded only while Prometheus has no series of it; nothing else is.
NOT_YET_PRODUCED = {
    "modwatch_rechecks_total": "only for platforms with a `recheck` section in platforms.yaml; the shipped config has "
    "none (tests/test_recheck_end_to_end.py polls a live worker's pages)",
    "modwatch_hashbank_entries": "declared for the media hash bank; no code sets it yet",
}

# Seconds from request to removal, per platform; the config below gives x 48 hours
# (PK) and tiktok 1 hour (EU), so tiktok's two slow removals are late.
FIRST_WAVE_REMOVALS = {"x:w1-a": 30, "tiktok:w1-fast": 120, "tiktok:w1-slow": 5400}
SECOND_WAVE_REMOVALS = {"x:w2-a": 600, "x:w2-b": 3000, "tiktok:w2-fast": 240, "tiktok:w2-slow": 7200}
DEADLINE_SECONDS = {"x": 48 * 3600, "tiktok": 3600}


def time_to_removal_buckets() -> list[float]:
    """The histogram's upper bounds as streams/metrics.py declares them, +Inf included."""
    return list(Metrics(CollectorRegistry()).time_to_removal._upper_bounds)


def require_prometheus() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail(
            "prometheus is not on PATH: install Debian's `prometheus` package "
            "(apt-get update && apt-get install -y prometheus)",
            pytrace=False,
        )
    return path


# --- the worker's input ------------------------------------------------------------------


@pytest.fixture
def compliance_env(worker_env, tmp_path):
    """The shipped config with tiktok under the EU (1 h deadline) and telegram under a
    6-second Indian deadline, so that one request becomes overdue during the test."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    platforms = yaml.safe_load((config / "platforms.yaml").read_text())
    platforms["platforms"]["tiktok"]["jurisdiction"] = "EU"
    platforms["platforms"]["telegram"]["jurisdiction"] = "IN"
    (config / "platforms.yaml").write_text(yaml.safe_dump(platforms))
    jurisdictions = yaml.safe_load((config / "jurisdictions.yaml").read_text())
    assert jurisdictions["jurisdictions"]["EU"]["deadline_hours"] == 1
    jurisdictions["jurisdictions"]["IN"]["deadline_hours"] = 0.001667
    (config / "jurisdictions.yaml").write_text(yaml.safe_dump(jurisdictions, allow_unicode=True))
    return dict(worker_env, MODWATCH_CONFIG_DIR=str(config), MODWATCH_TICK_SECONDS="1")


def status(item: str, kind: str, at: datetime) -> tuple[bytes, bytes]:
    platform, post_id = item.split(":")
    record = {"platform": platform, "post_id": post_id, "status": kind, "observed_at": at.isoformat(), "source": "test"}
    return item.encode(), orjson.dumps(record)


def removals(requests: dict, seconds_by_item: dict[str, int]) -> list[tuple[bytes, bytes]]:
    return [
        status(item, "removed", datetime.fromisoformat(requests[item]["requested_at"]) + timedelta(seconds=seconds))
        for item, seconds in seconds_by_item.items()
    ]


def worker_metrics(env) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{env['MODWATCH_WEB_PORT']}/metrics", timeout=5).read().decode()


def wait_for_worker(env, needles: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exposed = worker_metrics(env)
        if all(re.search(needle, exposed) for needle in needles):
            return
        time.sleep(0.2)
    missing = [needle for needle in needles if not re.search(needle, exposed)]
    names = {re.match(r"\w+", needle).group() for needle in missing}
    shown = [line for line in exposed.splitlines() if line.startswith(tuple(names))]
    raise AssertionError(f"the worker's /metrics never showed {missing}; it showed:\n" + "\n".join(shown))


# --- Prometheus --------------------------------------------------------------------------


class Prometheus:
    """Debian's prometheus binary on a free loopback port, its data in a temporary folder."""

    def __init__(self, binary: str, folder: Path, worker_port: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "prometheus.log"
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        # The repository's config and rules, with a one-second scrape and rule evaluation
        # (the recording rules need evaluations after the traffic), and no Alertmanager.
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(PROMETHEUS_CONFIG.parent / pattern) for pattern in config["rule_files"]]
        config.pop("alerting", None)
        (job,) = [scrape for scrape in config["scrape_configs"] if scrape["job_name"] == "modwatch"]
        job["static_configs"] = [{"targets": [f"127.0.0.1:{worker_port}"]}]
        self.config_path = folder / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.command = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Prometheus:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
            try:
                if urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def api(self, path: str, **params) -> dict:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:  # a bad query answers 400 with a JSON body
            return json.loads(error.read() or b"{}") | {"http_status": error.code}

    def query(self, promql: str) -> list[dict]:
        answer = self.api("query", query=promql)
        assert answer.get("status") == "success", f"{promql!r}: {answer}"
        return answer["data"]["result"]

    def values(self, promql: str, *labels: str) -> dict:
        """{label values: sample value} of an instant query."""
        return {
            tuple(series["metric"].get(label, "") for label in labels): float(series["value"][1])
            for series in self.query(promql)
        }

    def wait_until(self, promql: str, check, timeout: float = 30.0, what: str = ""):
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if check(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{what or promql}: still {result} after {timeout}s")
            time.sleep(0.5)

    def wait_for_scrape_after(self, moment: float, timeout: float = 15.0) -> None:
        """Until Prometheus holds a scrape of the worker taken after ``moment`` (epoch seconds)."""
        self.wait_until(
            'timestamp(up{job="modwatch"})',
            lambda result: bool(result) and float(result[0]["value"][1]) > moment,
            timeout,
            "a scrape after the traffic",
        )


@pytest.fixture
def prometheus(compliance_env, tmp_path):
    server = Prometheus(require_prometheus(), tmp_path, compliance_env["MODWATCH_WEB_PORT"])
    try:
        yield server
    finally:
        server.stop()


# --- the test --------------------------------------------------------------------------------


def test_prometheus_scrapes_the_documented_series_and_every_dashboard_query_returns_data(
    compliance_env, start_worker, kafka_bootstrap, prometheus
):
    env = compliance_env
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    start_worker(env)
    prometheus.start()
    # Unlabelled histograms exist from the worker's start: let Prometheus see them at zero.
    prometheus.wait_for_scrape_after(time.time())

    # Wave 1: requests on three platforms, a review, a clean post, a malformed record;
    # some removals. Every labelled series is born here.
    produce(
        kafka_bootstrap,
        f"{prefix}.posts",
        [
            post("x", "w1-a", VIOLATING),
            post("x", "w1-rejected", VIOLATING),
            post("tiktok", "w1-fast", VIOLATING),
            post("tiktok", "w1-slow", VIOLATING),
            post("telegram", "w1-ignored", VIOLATING),
            post("tiktok", "w1-review", NAME_ONLY),
            post("facebook", "w1-clean", CLEAN),
            (b"x:malformed", b"{not json"),
        ],
    )
    requests = dict(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=5, settle=0.5))
    produce(kafka_bootstrap, f"{prefix}.platform-status", removals(requests, FIRST_WAVE_REMOVALS))
    wait_for_worker(
        env,
        [
            r'modwatch_removals_total\{platform="tiktok",within_deadline="no"\} 1\.0',
            r'modwatch_removals_total\{platform="x",within_deadline="yes"\} 1\.0',
        ],
    )
    prometheus.wait_for_scrape_after(time.time())

    # Wave 2: the same kinds again, so every series increases while Prometheus watches.
    alerts = dict(consume(kafka_bootstrap, f"{prefix}.alerts", expect=6, settle=0.2))
    produce(
        kafka_bootstrap,
        f"{prefix}.posts",
        [
            post("x", "w2-a", VIOLATING),
            post("x", "w2-b", VIOLATING),
            post("x", "w2-open", VIOLATING),
            post("tiktok", "w2-fast", VIOLATING),
            post("tiktok", "w2-slow", VIOLATING),
            post("x", "w1-a", VIOLATING),  # already requested: a suppressed duplicate
            post("facebook", "w2-clean", CLEAN),
            (b"x:malformed-2", b"{not json either"),
        ],
    )
    requests = dict(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=10, settle=0.5))
    requested_at = datetime.fromisoformat(requests["x:w1-rejected"]["requested_at"])
    produce(
        kafka_bootstrap,
        f"{prefix}.platform-status",
        [
            *removals(requests, SECOND_WAVE_REMOVALS),
            status("x:w1-rejected", "rejected", requested_at + timedelta(seconds=60)),
        ],
    )
    produce(
        kafka_bootstrap,
        f"{prefix}.decisions",
        [
            (
                None,
                orjson.dumps(
                    {
                        "request_id": alerts["tiktok:w1-review"]["request_id"],
                        "decision": "approve",
                        "reviewer": "rev-1",
                        "reason": "glorifies",
                        # The EU regulation lists no bare mention: approved as what the reviewer saw.
                        "category": "terrorism_promotion",
                        "at": requested_at.isoformat(),
                    }
                ),
            ),
        ],
    )
    wait_for_worker(
        env,
        [
            r'modwatch_removals_total\{platform="tiktok",within_deadline="no"\} 2\.0',
            r'modwatch_removals_total\{platform="tiktok",within_deadline="yes"\} 2\.0',
            r'modwatch_removals_total\{platform="x",within_deadline="yes"\} 3\.0',
            r'modwatch_rejections_total\{platform="x"\} 1\.0',
            r'modwatch_review_decisions_total\{decision="approve",detector="\w+"\} 1\.0',
            r'modwatch_duplicates_suppressed_total\{output="takedown_request"\} [1-9]',
            r'modwatch_takedown_requests_overdue\{platform="telegram"\} 1\.0',
        ],
    )
    # x's acct-1 now has three removed posts (w1-a, w2-a, w2-b): an account-level request.
    # Its suspension gives the account time-to-removal histogram an observation.
    wait_for_worker(env, [r'modwatch_account_requests_total\{platform="x"\} 1\.0'])
    account_requests = dict(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=12, settle=0.5))
    suspended_at = datetime.fromisoformat(account_requests["x:~account~acct-1"]["requested_at"]) + timedelta(hours=2)
    record = {
        "platform": "x",
        "post_id": "w2-b",
        "status": "removed",
        "observed_at": suspended_at.isoformat(),
        "source": "test",
        "account_id": "acct-1",
        "account_status": "suspended",
    }
    produce(kafka_bootstrap, f"{prefix}.platform-status", [(b"x:w2-b", orjson.dumps(record))])
    wait_for_worker(env, [r'modwatch_account_time_to_removal_seconds_count\{platform="x"\} 1\.0'])
    # One more tick refreshes the open and overdue gauges after the last event.
    time.sleep(1.5)
    prometheus.wait_for_scrape_after(time.time())

    # --- the documented series ---------------------------------------------------------------
    present = set(prometheus.api("label/__name__/values")["data"])
    registry = CollectorRegistry()
    Metrics(registry)
    missing = series_names(registry, created=False) - present
    unexplained = {name for name in missing if not any(name.startswith(unproduced) for unproduced in NOT_YET_PRODUCED)}
    assert not unexplained, f"series in streams/metrics.py that Prometheus never scraped: {sorted(unexplained)}"
    assert "modwatch_faust_messages_received_total" in present, "Faust's sensors are not exposed as modwatch_faust_*"

    # Every configured platform has a series from the start (zero where no post came).
    assert prometheus.values("sum by (platform) (modwatch_posts_processed_total)", "platform") == {
        ("x",): 6,
        ("tiktok",): 5,
        ("telegram",): 1,
        ("facebook",): 2,
        ("instagram",): 0,
        ("youtube",): 0,
    }
    assert prometheus.values('modwatch_deadletters_total{topic=~".+[.]posts"}', "reason") == {("invalid_json",): 2}
    requested = prometheus.values(
        "sum by (platform, jurisdiction) (modwatch_takedown_requests_total)", "platform", "jurisdiction"
    )
    assert {labels: count for labels, count in requested.items() if count} == {
        ("x", "PK"): 5,
        ("tiktok", "EU"): 5,
        ("telegram", "IN"): 1,
    }
    assert (
        prometheus.values("sum by (output) (modwatch_duplicates_suppressed_total)", "output")[("takedown_request",)]
        >= 1
    )
    # The open and overdue gauges have a series for every configured platform, zero or not.
    configured = {
        (name,)
        for name in yaml.safe_load((Path(env["MODWATCH_CONFIG_DIR"]) / "platforms.yaml").read_text())["platforms"]
    }
    open_requests = prometheus.values("sum by (platform) (modwatch_takedown_requests_open)", "platform")
    assert set(open_requests) == configured
    assert {platform: count for platform, count in open_requests.items() if count} == {
        ("x",): 1,
        ("tiktok",): 1,
        ("telegram",): 1,
    }
    overdue = prometheus.values("sum by (platform) (modwatch_takedown_requests_overdue)", "platform")
    assert set(overdue) == configured
    assert {platform: count for platform, count in overdue.items() if count} == {("telegram",): 1}

    # --- the time-to-removal histogram, per platform --------------------------------------
    observed = {"x": [], "tiktok": []}
    for item, seconds in {**FIRST_WAVE_REMOVALS, **SECOND_WAVE_REMOVALS}.items():
        observed[item.split(":")[0]].append(seconds)
    counts = prometheus.values("modwatch_time_to_removal_seconds_count", "platform", "category", "jurisdiction")
    assert {labels: count for labels, count in counts.items() if count} == {
        ("x", "terrorism_promotion", "PK"): len(observed["x"]),
        ("tiktok", "terrorism_promotion", "EU"): len(observed["tiktok"]),
    }
    buckets = prometheus.values("sum by (platform, le) (modwatch_time_to_removal_seconds_bucket)", "platform", "le")
    for platform, seconds in observed.items():
        expected = {bound: sum(value <= bound for value in seconds) for bound in time_to_removal_buckets()}
        got = {float(le): count for (name, le), count in buckets.items() if name == platform}
        assert got == expected, f"{platform}: buckets {got}, expected {expected}"
    on_time = prometheus.values("modwatch_removals_total", "platform", "within_deadline")
    assert {labels: count for labels, count in on_time.items() if count} == {
        (platform, "yes" if within else "no"): sum((value <= DEADLINE_SECONDS[platform]) == within for value in seconds)
        for platform, seconds in observed.items()
        for within in (True, False)
        if any((value <= DEADLINE_SECONDS[platform]) == within for value in seconds)
    }

    # --- recording rules, evaluated on the live data -----------------------------------------
    # Only the second wave is visible to increase(): x removed 2 on time; tiktok 1 on time, 1 late.
    prometheus.wait_until(
        "job_platform:modwatch_removals_within_deadline:ratio_1d",
        lambda result: len(result) == 2 and not any(math.isnan(float(series["value"][1])) for series in result),
        what="the share within deadline of x and tiktok",
    )
    share = prometheus.values("job_platform:modwatch_removals_within_deadline:ratio_1d", "platform")
    assert share[("x",)] == 1.0 and 0.35 < share[("tiktok",)] < 0.65, share
    rules = prometheus.api("rules")["data"]["groups"]
    unhealthy = [
        (rule["name"], rule.get("lastError")) for group in rules for rule in group["rules"] if rule["health"] != "ok"
    ]
    assert not unhealthy, f"rules failing to evaluate: {unhealthy}"
    prometheus.wait_until(
        'ALERTS{alertname="ModwatchRequestsOverdue", platform="telegram"}',
        bool,
        what="ModwatchRequestsOverdue pending for telegram's overdue request",
    )

    # --- every dashboard query --------------------------------------------------------------
    failures, excluded = {}, {}
    for where, promql in dashboard_queries():
        answer = prometheus.api("query", query=promql)
        if answer.get("status") != "success":
            failures[where] = f"{promql}: {answer.get('error')}"
            continue
        result = answer["data"]["result"]
        reasons = [reason for name, reason in NOT_YET_PRODUCED.items() if name in promql and name not in present]
        if not result and reasons:
            excluded[where] = reasons
        elif not result:
            failures[where] = f"{promql}: no series"
        elif all(math.isnan(float(series["value"][1])) for series in result):
            failures[where] = f"{promql}: {len(result)} series, all NaN"
    assert not failures, "dashboard queries without data:\n" + "\n".join(
        f"{where}: {why}" for where, why in failures.items()
    )
    for where, reasons in excluded.items():
        warnings.warn(f"{where}: not checked, {'; '.join(reasons)}", stacklevel=1)
