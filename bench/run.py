"""``make bench``: the benchmarks that need no broker, one after another; ``--all`` adds the broker ones.

Each benchmark prints its own ratios (against a baseline measured in the same
run); ``bench/RESULTS.md`` records the figures and the commands.

    .venv/bin/python -m bench.run            # rules, scan, classifier, campaigns
    .venv/bin/python -m bench.run --all      # and PDQ index, broker, ordered writes, chaos, report (long)
    .venv/bin/python -m bench.run --list
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (module, arguments, what it measures, needs a broker or a long run)
BENCHMARKS = (
    ("bench.bench_rules", [], "rule detectors against casefold and a regex alternation", False),
    ("bench.bench_scan", [], "modwatch scan (detection only) per post", False),
    ("bench.bench_classifier", [], "the text classifier against a TF-IDF baseline", False),
    ("bench.bench_campaigns", [], "campaign grouping's share of the scan agent's work", False),
    ("bench.bench_pdq_index", [], "PDQ index build, query and memory against brute force", True),
    ("bench.bench_bank_memory", [], "memory and load time of a 1M PDQ bank, packed against a dict", True),
    ("bench.bench_broker", [], "throughput, latency, memory against a Faust no-op agent and raw aiokafka", True),
    ("bench.bench_ordered_writes", [], "the publish stage against a revision without ordered writes", True),
    ("bench.chaos", ["--kills", "50", "--outage", "30"], "kill -9, rebalance, outage: lost and duplicated", True),
    ("bench.bench_report", [], "modwatch report on a 1M-line ledger: wall time and peak memory", True),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="also the benchmarks that start a broker or run long")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    args = parser.parse_args(argv)
    chosen = [entry for entry in BENCHMARKS if args.all or not entry[3]]
    if args.list:
        for module, _arguments, what, heavy in BENCHMARKS:
            print(f"{module:<28} {'(--all) ' if heavy else ''}{what}")
        return
    failed = []
    for module, arguments, what, _ in chosen:
        print(f"== {module}: {what}", flush=True)
        if subprocess.run([sys.executable, "-m", module, *arguments], cwd=ROOT, check=False).returncode:
            failed.append(module)
    if failed:
        sys.exit(f"bench: failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
