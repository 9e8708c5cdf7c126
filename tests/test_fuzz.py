"""A time-boxed atheris run of the event parser and the text normaliser (fuzz/fuzz_inputs.py).

The harness feeds arbitrary bytes to every EventParser method, to normalise,
handle_key and text_key, and to the designated-organisation detector; anything
but InvalidEvent out of a parser is a crash. This test runs it for 20 seconds
from the seed corpus (copied to a temporary folder: libFuzzer writes the inputs
it finds into the corpus folder) and fails on a crash, on a non-zero exit, or
when the run made too few executions to mean anything. A longer run: see
SECURITY.md.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SECONDS = 20
# About 11,000-15,000 executions in 20 s on a developer machine; far below that,
# the harness is stuck (a slow input, a hang) rather than fuzzing.
MIN_RUNS = 1000


def test_fuzz_run_finds_no_crash(tmp_path):
    if importlib.util.find_spec("atheris") is None:
        pytest.fail(
            "atheris is not installed, so the fuzz run cannot happen: "
            "install the test extras (.venv/bin/pip install -e '.[test]', which pins atheris>=3.0.0,<3.1)"
        )
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "fuzz" / "corpus", corpus)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    command = [
        sys.executable,
        "-m",
        "fuzz.fuzz_inputs",
        f"-max_total_time={SECONDS}",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={artifacts}/",
        str(corpus),
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, errors="replace", check=False, timeout=SECONDS * 6 + 60
    )
    output = result.stdout + result.stderr
    tail = "\n".join(output.splitlines()[-60:])
    crashes = sorted(str(path) for path in artifacts.iterdir())
    assert result.returncode == 0 and not crashes, (
        f"the fuzz run failed (exit code {result.returncode}; inputs kept: {crashes}). "
        f"Reproduce with: .venv/bin/python -m fuzz.fuzz_inputs <input file>\n{tail}"
    )
    assert "INITED" in output, f"the seed corpus was not loaded:\n{tail}"
    done = re.search(r"^Done (\d+) runs in (\d+) second", output, re.MULTILINE)
    assert done, f"no 'Done N runs' line in the fuzzer's output:\n{tail}"
    runs = int(done.group(1))
    assert runs > MIN_RUNS, f"only {runs} executions in {SECONDS} s (expected more than {MIN_RUNS}):\n{tail}"
