"""Who may write, and which signed callbacks are fresh (streams/access.py); the worker's start-up refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest

from streams import access
from tests.conftest import ROOT

TOKEN = "a-token-of-twenty-four-chars"


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN} "])
def test_the_bearer_scheme_is_matched_without_case(header):
    assert access.bearer_allowed(header, {"MODWATCH_API_TOKEN": TOKEN})


@pytest.mark.parametrize("header", ["", TOKEN, f"Basic {TOKEN}", "Bearer wrong", f"Bearer {TOKEN}x"])
def test_a_wrong_or_missing_token_may_not_write(header):
    assert not access.bearer_allowed(header, {"MODWATCH_API_TOKEN": TOKEN})


def test_without_a_token_nobody_writes_unless_the_worker_was_started_insecure():
    assert not access.bearer_allowed("", {})
    assert not access.bearer_allowed("Bearer anything", {"MODWATCH_API_TOKEN": "  "})
    assert access.bearer_allowed("", {"MODWATCH_INSECURE": "1"})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_token_to_start(host):
    assert access.exposure_problem(host, {}) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "worker.internal"])
def test_any_other_address_needs_a_token_or_insecure(host):
    assert "MODWATCH_API_TOKEN is not set" in access.exposure_problem(host, {})
    assert access.exposure_problem(host, {"MODWATCH_API_TOKEN": TOKEN}) is None
    assert access.exposure_problem(host, {"MODWATCH_INSECURE": "1"}) is None


def test_a_short_token_is_refused_with_its_variable_named():
    problem = access.exposure_problem("127.0.0.1", {"MODWATCH_API_TOKEN": "s3cret"})
    assert problem.startswith("environment MODWATCH_API_TOKEN: is 6 characters")


def test_a_signature_is_accepted_once_within_its_window_and_forgotten_after():
    guard = access.ReplayGuard(window_seconds=300)
    assert guard.refusal(1000, "v1=ab", now=1000.0) is None
    assert guard.refusal(1000, "V1=AB", now=1100.0) == "replay"
    assert guard.refusal(1001, "v1=cd", now=1100.0) is None
    assert guard.refusal(1400, "v1=ef", now=1400.0) is None
    assert len(guard) == 1  # the first two are stale by then: the signature check refuses them anyway


def test_a_timestamp_more_than_30_seconds_ahead_is_refused():
    guard = access.ReplayGuard(window_seconds=300)
    assert guard.refusal(1031, "v1=ab", now=1000.0) == "future_timestamp"
    assert guard.refusal(1030, "v1=ab", now=1000.0) is None


def worker_start(env: dict) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "MODWATCH_CONFIG_DIR": str(ROOT / "config")}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=base | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_worker_refuses_to_listen_beyond_loopback_without_a_token():
    finished = worker_start({"MODWATCH_WEB_HOST": "0.0.0.0", "MODWATCH_BROKER": "kafka://127.0.0.1:1"})
    assert finished.returncode == 2
    assert "web_host '0.0.0.0' is not loopback and MODWATCH_API_TOKEN is not set" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_an_unreachable_broker_is_one_line_and_exit_code_2():
    finished = worker_start({"MODWATCH_BROKER": "kafka://127.0.0.1:1"})
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert lines[-1].strip().startswith("broker kafka://127.0.0.1:1 (environment MODWATCH_BROKER): not reachable")
    assert len(lines) == 2 and "Traceback" not in finished.stderr
