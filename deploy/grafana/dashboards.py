"""modwatch's Grafana dashboards, written as code with Grafana's typed builders.

Grafana provisions deploy/grafana/dashboards/*.json, and those files are generated
here. Hand-edited dashboard JSON drifts: a panel copied with the last panel's query,
a legend or unit left behind, a layout that overlaps. Here each panel shape is one
function and each panel one call, so a review reads the PromQL and the layout, not
boilerplate. Do not edit the JSON; change this file and regenerate:

    make dashboards   (or: .venv/bin/python deploy/grafana/dashboards.py)

tests/test_dashboards_as_code.py fails while the committed JSON differs from what
this file generates. tests/test_compose.py checks the metric names, datasources and
layout, and tests/test_prometheus_integration.py runs every query on live data.
"""

import json
import sys
from pathlib import Path

# deploy/ is not a package: the dashboards' modules sit beside this script (dashboard_panels.py
# the shared shapes, dashboard_compliance.py and dashboard_pipeline.py one dashboard each).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_compliance import compliance_dashboard  # noqa: E402
from dashboard_pipeline import pipeline_dashboard  # noqa: E402
from grafana_foundation_sdk.builders import dashboard  # noqa: E402
from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: E402

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"

# --- output ------------------------------------------------------------------------------


def render(board: dashboard.Dashboard) -> str:
    """Sorted keys, two-space indent, a final newline: the same bytes on every run."""
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def render_dashboards() -> dict[str, str]:
    """File name under deploy/grafana/dashboards/ to its JSON; nothing is written."""
    return {
        "platform-compliance.json": render(compliance_dashboard()),
        "pipeline-health.json": render(pipeline_dashboard()),
    }


def main() -> None:
    for name, text in render_dashboards().items():
        path = DASHBOARDS_DIR / name
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
