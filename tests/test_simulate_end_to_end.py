"""`modwatch simulate` end to end: the issue's acceptance 2 on a short, fast run.

Simulated platforms, a real worker on a real broker, synthetic traffic; the
run checks itself (accounting, and each platform's median against its
configuration) and exits 0 only when every check holds. The README's demo is
the same command for three minutes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.kafka


def test_a_short_simulation_accounts_for_every_request_and_agrees_on_every_checked_median(kafka_bootstrap, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODWATCH_")}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        MODWATCH_DATA_DIR=str(tmp_path / "data"),
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
    )
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli", "simulate", "--minutes", "0.75", "--drain", "12", "--out", str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "accounting: every accepted request is in the ledger once" in output
    assert "DISAGREES" not in output
    # The platforms with medians of minutes have enough removals in 45 s (x: re-checked, no callbacks).
    for platform in ("facebook", "instagram", "x"):
        assert re.search(rf"│ {platform} +│[^\n]*│ agrees +│$", output, re.M), (
            f"{platform} not checked:\n{output[-4000:]}"
        )
    # The report and its plot.
    assert "## By platform" in run.stdout
    assert list(tmp_path.glob("sim-*.png"))
