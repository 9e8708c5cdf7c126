"""Where table state lives (streams/tables.py)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_the_request_and_alert_tables_stay_in_memory_when_the_worker_uses_rocksdb(tmp_path):
    """A local copy could remember an output that never reached its topic (a kill -9 in between)."""
    script = (
        "from streams.tables import post_to_alert, post_to_takedown_request, item_to_state\n"
        "print(type(post_to_alert.data).__module__, type(post_to_takedown_request.data).__module__,"
        " type(item_to_state.data).__module__)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "MODWATCH_STORE": "rocksdb://",
        "MODWATCH_DATA_DIR": str(tmp_path),
        "MODWATCH_CONFIG_DIR": str(ROOT / "config"),
    }
    found = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.split() == ["faust.stores.memory", "faust.stores.memory", "faust.stores.rocksdb"]
