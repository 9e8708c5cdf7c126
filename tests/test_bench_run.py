"""``make bench`` runs bench/run.py: every benchmark it names exists and takes its arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.run import BENCHMARKS
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("module", [entry[0] for entry in BENCHMARKS])
def test_every_benchmark_make_bench_names_answers_help(module):
    finished = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "usage:" in finished.stdout


def test_make_bench_points_at_bench_run():
    assert "$(BIN)/python -m bench.run" in (ROOT / "Makefile").read_text()
