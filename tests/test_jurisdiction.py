"""Designations by jurisdiction: the UN list everywhere, a national list only under its own jurisdiction.

A request under a designation names the list and entry its legal basis came
from. A threat is a threat in every jurisdiction, designated or not.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from detectors.configfile import Problems
from detectors.designation_lists import load_all_designations
from detectors.events import Post
from detectors.pipeline import Pipeline
from takedowns.requests import Requests
from tests.conftest import ROOT

BLA_GLORIFICATION = "Balochistan Liberation Army zindabad, Majeed Brigade ke fidayeen ko salam"
BLA_GLORIFICATION_WITH_THREAT = BLA_GLORIFICATION + ". Hum kal Gwadar mein Punjabi settlers ko goli maar denge"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    """The shipped config, with one more platform whose requests fall under the EU."""
    config = tmp_path_factory.mktemp("config")
    shutil.copytree(ROOT / "config", config, dirs_exist_ok=True)
    platforms = yaml.safe_load((config / "platforms.yaml").read_text(encoding="utf-8"))
    platforms["platforms"]["eu-video"] = {"name": "EU video host", "jurisdiction": "EU"}
    (config / "platforms.yaml").write_text(yaml.safe_dump(platforms, allow_unicode=True), encoding="utf-8")
    return Pipeline.from_config_dir(config)


def decide(pipeline: Pipeline, platform: str, text: str):
    post = Post(platform, "p-1", "acct-1", datetime(2026, 12, 2, tzinfo=UTC), text=text, url="https://example.test/p-1")
    decision = pipeline.scan([post])[0]
    return decision, pipeline.flagged(decision)


def test_pakistan_list_is_shipped_and_marked_for_the_operator_to_verify():
    problems = Problems()
    organisations = {
        organisation.name: organisation for organisation in load_all_designations(ROOT / "config", problems)
    }
    problems.raise_if_any()
    for name in ("Balochistan Liberation Army", "Balochistan Liberation Front", "Majeed Brigade"):
        designations = organisations[name].designations
        assert [designation.jurisdiction for designation in designations] == ["PK"], name
        assert all(designation.source.startswith("http") and not designation.verified for designation in designations)


def test_an_organisation_on_both_lists_carries_both_designations():
    problems = Problems()
    by_id = {organisation.id: organisation for organisation in load_all_designations(ROOT / "config", problems)}
    ttp = by_id["QDe.132"]  # the UN entry; Pakistan's entry names it with same_as
    assert {designation.jurisdiction for designation in ttp.designations} == {"*", "PK"}
    assert "PK-ATA-TTP" not in by_id


def test_pk_post_glorifying_the_bla_is_a_takedown_citing_the_pakistani_list(pipeline):
    decision, flagged = decide(pipeline, "x", BLA_GLORIFICATION)
    assert decision.action == "takedown"
    assert decision.categories[0] == "terrorism_promotion"
    request = Requests.for_pipeline(pipeline).takedown_request(flagged, datetime(2026, 12, 2, 12, tzinfo=UTC))
    assert request["jurisdiction"] == "PK"
    lists = {(basis["list"], basis["name"]) for basis in request["designations"]}
    assert ("PK ATA 1997 First Schedule", "Balochistan Liberation Army") in lists
    assert "Anti-Terrorism Act 1997" in request["legal_basis"]
    assert "PK ATA 1997 First Schedule" in request["citation"]
    assert all(basis["jurisdiction"] == "PK" and basis["verified"] is False for basis in request["designations"])


def test_the_same_post_under_a_jurisdiction_without_the_listing_is_not_requested_under_a_designation(pipeline):
    decision, flagged = decide(pipeline, "eu-video", BLA_GLORIFICATION)
    # No takedown, and nothing in the findings a request could cite: the BLA is not
    # designated there. Saluting "fidayeen" (suicide attackers) may still earn a
    # reviewer's look, as it would with no name at all.
    assert decision.action in ("none", "review")
    assert not any(finding.evidence.get("legal_bases") for finding in decision.findings)
    assert not any(finding.evidence.get("organisations") for finding in decision.findings)


def test_a_threat_in_it_is_still_a_threat_without_the_listing(pipeline):
    decision, flagged = decide(pipeline, "eu-video", BLA_GLORIFICATION_WITH_THREAT)
    assert decision.action == "takedown"
    assert decision.categories[0] == "violent_threat"
    request = Requests.for_pipeline(pipeline).takedown_request(flagged, datetime(2026, 12, 2, 12, tzinfo=UTC))
    assert request["jurisdiction"] == "EU"
    assert "designations" not in request
    assert "Anti-Terrorism Act" not in request["legal_basis"]


def test_un_listed_group_is_cited_under_every_jurisdiction(pipeline):
    text = "Long live Tehrik-e-Taliban Pakistan, join the ranks of the mujahideen"
    for platform, jurisdiction in (("x", "PK"), ("eu-video", "EU")):
        decision, flagged = decide(pipeline, platform, text)
        assert decision.action == "takedown", platform
        request = Requests.for_pipeline(pipeline).takedown_request(flagged, datetime(2026, 12, 2, 12, tzinfo=UTC))
        assert ("UN 1267", "QDe.132") in {(basis["list"], basis["reference"]) for basis in request["designations"]}
        national = [basis for basis in request["designations"] if basis["jurisdiction"] != "*"]
        assert all(basis["jurisdiction"] == jurisdiction for basis in national), platform


def test_review_only_organisation_is_never_sent_straight_to_takedown(pipeline):
    decision, _ = decide(pipeline, "x", "Pashtun Tahaffuz Movement zindabad")
    assert decision.action == "review"


def test_designations_command_shows_coverage_per_jurisdiction():
    from click.testing import CliRunner

    from streams.cli import cli

    result = CliRunner().invoke(cli, ["designations", "--config", str(ROOT / "config")])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "PK ATA 1997 First Schedule" in line]
    assert rows and all(line.split("│")[1].strip() == "PK" for line in rows)
    eu_rows = [line for line in result.output.splitlines() if line.startswith("│ EU")]
    assert eu_rows and not any("PK ATA" in line for line in eu_rows)
    assert "compiled from public reports" in result.output


def test_config_examples_resolve(tmp_path):
    # A national entry whose same_as names no earlier organisation is a configuration problem, with its file.
    config = tmp_path
    shutil.copy(ROOT / "config" / "designations.yaml", config / "designations.yaml")
    (config / "designations-xx.yaml").write_text(
        "list: {name: XX list, jurisdiction: XX, legal_basis: XX Act}\n"
        "organisations:\n  - id: XX-1\n    name: Nobody\n    same_as: QDe.999999\n"
        "    designations: [{list: XX list, reference: '1'}]\n",
        encoding="utf-8",
    )
    problems = Problems()
    load_all_designations(Path(config), problems)
    assert any("designations-xx.yaml" in message and "same_as 'QDe.999999'" in message for message in problems.messages)
