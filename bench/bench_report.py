"""``modwatch report`` on a large ledger (issue 16): wall time and peak memory.

    .venv/bin/python -m bench.bench_report [--lines 1000000] [--plot] [--compare-with DIR]

Writes a synthetic ledger of ``--lines`` lines (bench/ledger.py: the real
lifecycle's records, several transitions per request, six platforms, five
designated organisations) to a temporary file, runs ``modwatch report
--ledger FILE --format json`` on it in a subprocess, and reports the wall time
and the peak resident memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``:
the largest child this process waited for, and the report is its only one).
``--plot`` adds ``--plot`` (matplotlib and the curves); ``--compare-with DIR``
runs the same command from another modwatch checkout too (a git worktree of an
earlier commit), on the same file. Target (issue 16): 1M lines within 500 MB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.ledger import write_ledger

ROOT = Path(__file__).resolve().parent.parent
MEMORY_TARGET_BYTES = 500 * 1024 * 1024


def measure_report(ledger: Path, arguments: list[str], checkout: Path = ROOT) -> dict:
    """Run ``modwatch report --ledger ledger <arguments>`` from ``checkout``: seconds, peak bytes, its JSON."""
    command = [sys.executable, "-m", "streams.cli", "report", "--ledger", str(ledger), *arguments]
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=checkout, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if finished.returncode:
        raise SystemExit(f"{' '.join(command)} (in {checkout}) failed:\n{finished.stderr.decode()[-2000:]}")
    # Linux reports ru_maxrss in kilobytes. The peak of every child so far: one report per process.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"seconds": seconds, "peak_bytes": peak, "report": orjson.loads(finished.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lines", type=int, default=1_000_000, help="ledger lines to write (whole items, so a few more)"
    )
    parser.add_argument("--ledger", type=Path, default=None, help="report on this ledger instead of writing one")
    parser.add_argument("--plot", action="store_true", help="also draw the plot (--plot into the temporary folder)")
    parser.add_argument(
        "--compare-with", type=Path, default=None, help="another modwatch checkout to run the same report from too"
    )
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the modwatch checkout to run the report from")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        ledger = args.ledger
        written = None
        if ledger is None:
            ledger = Path(folder) / "ledger.jsonl"
            started = time.perf_counter()
            written = write_ledger(ledger, args.lines, datetime.now(UTC))
            written["seconds"] = time.perf_counter() - started
        arguments = ["--format", "json"] + (["--plot", str(Path(folder) / "plot.png")] if args.plot else [])
        measured = measure_report(ledger, arguments, args.checkout)
        if args.compare_with:  # after: its process is a child too, and ru_maxrss would be its peak
            compared = _measure_elsewhere(ledger, args.plot, args.compare_with)
    figures = {
        "ledger": written or {"lines": None, "bytes": ledger.stat().st_size},
        "requests": measured["report"]["all"]["all"]["requests"]
        + sum(row["requests"] for row in measured["report"]["accounts"].values()),
        "seconds": round(measured["seconds"], 2),
        "peak_megabytes": round(measured["peak_bytes"] / 2**20),
        "checkout": "this tree" if args.checkout == ROOT else str(args.checkout),
    }
    if args.compare_with:
        figures["compared"] = {"checkout": str(args.compare_with), **compared}
    if args.json:
        print(orjson.dumps(figures).decode())
        return
    _show(figures)


def _measure_elsewhere(ledger: Path, plot: bool, checkout: Path) -> dict:
    """The same measurement from ``checkout``, by this program in a process of its own (its children's peak is its own)."""
    command = [
        sys.executable,
        "-m",
        "bench.bench_report",
        "--ledger",
        str(ledger),
        "--checkout",
        str(checkout),
        "--json",
    ]
    finished = subprocess.run(command + (["--plot"] if plot else []), cwd=ROOT, capture_output=True, check=True)
    measured = orjson.loads(finished.stdout)
    return {"seconds": measured["seconds"], "peak_megabytes": measured["peak_megabytes"]}


def _show(figures: dict) -> None:
    written = figures["ledger"]
    if written.get("seconds") is not None:
        print(
            f"ledger: {written['lines']:,} lines, {written['items']:,} items, "
            f"{written['bytes'] / 2**20:,.0f} MB, written in {written['seconds']:.1f} s"
        )
    print("| tree | requests counted | wall s | peak RSS MB | within 500 MB |")
    print("| --- | ---: | ---: | ---: | --- |")
    rows = [(figures["checkout"], figures["seconds"], figures["peak_megabytes"])]
    if "compared" in figures:
        compared = figures["compared"]
        rows.append((compared["checkout"], compared["seconds"], compared["peak_megabytes"]))
    for tree, seconds, megabytes in rows:
        within = "yes" if megabytes * 2**20 <= MEMORY_TARGET_BYTES else "no"
        print(f"| {tree} | {figures['requests']:,} | {seconds:.1f} | {megabytes:,} | {within} |")


if __name__ == "__main__":
    main()
