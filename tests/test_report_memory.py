"""``modwatch report`` keeps each request's latest record, not the ledger: its memory, on a large ledger.

A 200,000-line ledger (bench/ledger.py: the real lifecycle's records, evidence
and all, about 1.4 kB a line) read whole took 1.3 GB. Read a line at a time,
keeping a few hundred bytes per request, the report peaks at about 200 MB,
most of it the command line's own start-up (about 165 MB on an empty ledger).
What the ledger adds must stay under 500 bytes a line (100 MB here, 500 MB
for bench/bench_report.py's million lines), and the whole under 300 MB.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from bench.ledger import write_ledger
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

LINES = 200_000
PEAK_BOUND_MEGABYTES = 300
BYTES_PER_LINE_BOUND = 500


def measured(ledger: Path) -> dict:
    """bench_report's figures; it runs the report as its only child, so the children's peak RSS is the report's."""
    finished = subprocess.run(
        [sys.executable, "-m", "bench.bench_report", "--ledger", str(ledger), "--json"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=300,
    )
    return orjson.loads(finished.stdout)


def test_report_on_a_200k_line_ledger_peaks_under_300_mb(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    ledger = tmp_path / "ledger.jsonl"
    written = write_ledger(ledger, LINES, datetime.now(UTC))
    start_up, figures = measured(empty), measured(ledger)
    assert figures["requests"] >= written["items"] * 0.9  # the report read the ledger (reviews dismiss a few)
    added = (figures["peak_megabytes"] - start_up["peak_megabytes"]) * 2**20
    assert added < BYTES_PER_LINE_BOUND * LINES, (start_up, figures)
    assert figures["peak_megabytes"] < PEAK_BOUND_MEGABYTES, figures
