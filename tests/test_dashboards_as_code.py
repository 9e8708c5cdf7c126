"""deploy/grafana/dashboards.py: the committed dashboard JSON is exactly what it generates.

The JSON under deploy/grafana/dashboards/ is what Grafana provisions; it is written by
the generator, never by hand. No broker and no Grafana: the generator runs in memory.
"""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType

import pytest

from tests.conftest import ROOT

GENERATOR = ROOT / "deploy" / "grafana" / "dashboards.py"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
REGENERATE = "make dashboards"


def load_generator() -> ModuleType:
    # deploy/ is not a package: load the script by its path.
    spec = importlib.util.spec_from_file_location("grafana_dashboards", GENERATOR)
    assert spec and spec.loader, f"{GENERATOR} cannot be loaded"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return load_generator().render_dashboards()


def test_every_committed_dashboard_comes_from_the_generator(generated):
    committed = sorted(path.name for path in DASHBOARDS.glob("*.json"))
    assert committed == sorted(generated), (
        f"deploy/grafana/dashboards/ holds {committed}, the generator writes {sorted(generated)}: "
        f"add the dashboard to {GENERATOR.relative_to(ROOT)} or remove the stray file"
    )


@pytest.mark.parametrize("name", ["platform-compliance.json", "pipeline-health.json"])
def test_committed_dashboard_json_equals_the_generated_json(generated, name):
    committed = (DASHBOARDS / name).read_text(encoding="utf-8")
    assert committed == generated[name], (
        f"deploy/grafana/dashboards/{name} differs from what {GENERATOR.relative_to(ROOT)} generates. "
        f"Do not edit the JSON by hand: change the generator and run `{REGENERATE}`, then commit both."
    )


def test_compliance_dashboard_has_the_accounts_campaigns_and_reports_row(generated):
    panels = json.loads(generated["platform-compliance.json"])["panels"]
    rows = [panel for panel in panels if panel["type"] == "row"]
    assert rows[-1]["title"] == "Accounts, campaigns and reports", "the new row is not the last one"
    below = [panel for panel in panels if panel["gridPos"]["y"] > rows[-1]["gridPos"]["y"]]
    queries = {panel["title"]: [target["expr"] for target in panel["targets"]] for panel in below}
    account_suspension = (
        "histogram_quantile({}, sum by (platform, le) "
        '(rate(modwatch_account_time_to_removal_seconds_bucket{{platform=~"$platform"}}[1d])))'
    )
    assert queries == {
        "Account-level requests by platform (last day)": [
            'sum by (platform) (increase(modwatch_account_requests_total{platform=~"$platform"}[1d]))'
        ],
        "Open account-level requests by platform": [
            'sum by (platform) (modwatch_account_requests_open{platform=~"$platform"})'
        ],
        "Time to account suspension p50 and p90 by platform": [
            account_suspension.format(0.5),
            account_suspension.format(0.9),
        ],
        "Campaigns raised (last day)": ['sum by (severity) (increase(modwatch_alerts_total{type="campaign"}[1d]))'],
        "User reports by platform": ['sum by (platform) (rate(modwatch_reports_total{platform=~"$platform"}[5m]))'],
        "Report-velocity alerts (last day)": [
            'sum by (severity) (increase(modwatch_alerts_total{type="report_velocity"}[1d]))'
        ],
    }
    by_title = {panel["title"]: panel for panel in below}
    suspension = by_title["Time to account suspension p50 and p90 by platform"]
    assert suspension["fieldConfig"]["defaults"]["unit"] == "s"
    assert [target["legendFormat"] for target in suspension["targets"]] == ["{{platform}} p50", "{{platform}} p90"]
    assert "reports per second" in by_title["User reports by platform"]["description"]
    for panel in below:
        assert panel["description"].count(". ") == 0 and panel["description"].endswith("."), (
            f"{panel['title']!r}: give it a one-sentence description"
        )
