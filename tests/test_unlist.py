"""Building config/designations.yaml from the UN Security Council list."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from detectors.configfile import ConfigError
from detectors.unlist import build
from tests.conftest import ROOT

UN = ROOT / "detectors" / "datasets" / "un_sc"
XML = UN / "consolidated_list_2024-09-26.xml.gz"
OVERLAY = UN / "overlay.yaml"


@pytest.fixture(scope="module")
def organisations() -> dict[str, dict]:
    document = yaml.safe_load(build(XML, OVERLAY))
    return {organisation["id"]: organisation for organisation in document["organisations"]}


def test_committed_designations_are_exactly_what_the_build_produces():
    built = subprocess.run(
        [sys.executable, "-m", "streams.cli", "designations", "build-un"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    assert built == (ROOT / "config" / "designations.yaml").read_text(encoding="utf-8")


def test_only_the_1267_and_1988_entities_are_kept(organisations):
    assert organisations and all(key.startswith(("QDe.", "TAe.")) for key in organisations)
    lists = {organisation["designations"][0]["list"] for organisation in organisations.values()}
    assert lists == {"UN 1267", "UN 1988"}


def test_parenthesised_acronym_becomes_an_acronym_and_leaves_the_name(organisations):
    ttp = organisations["QDe.132"]
    assert ttp["name"] == "TEHRIK-E TALIBAN PAKISTAN"
    assert "TTP" in ttp["acronyms"]
    assert ttp["designations"][0]["listed_on"].isoformat() == "2011-07-29"
    assert "تحریک طالبان پاکستان" in ttp["aliases"]["ur"]


def test_parenthesised_country_is_not_an_alias_or_acronym(organisations):
    haramain = organisations["QDe.104"]
    every_name = [name for names in haramain["aliases"].values() for name in names]
    assert "PAKISTAN" not in every_name
    assert "PAKISTAN" not in haramain.get("acronyms", []) + haramain.get("weak_acronyms", [])


def test_excluded_ordinary_words_are_not_aliases(organisations):
    al_qaida = organisations["QDe.004"]
    assert not any(name.casefold() == "the base" for names in al_qaida["aliases"].values() for name in names)
    every_alias = {
        name.casefold()
        for organisation in organisations.values()
        for names in organisation["aliases"].values()
        for name in names
    }
    assert {"al-tawhid", "al-jihad", "sirat"}.isdisjoint(every_alias)


def test_acronyms_that_are_also_ordinary_words_are_weak(organisations):
    weak = {acronym for organisation in organisations.values() for acronym in organisation.get("weak_acronyms", [])}
    strong = {acronym for organisation in organisations.values() for acronym in organisation.get("acronyms", [])}
    assert {"MIT", "JAT", "GIA"} <= weak
    assert {"TTP", "LeT", "JeM", "ISIS-K"} <= strong
    assert not weak & strong


def test_overlay_exclusion_that_matches_nothing_is_reported_with_its_line(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        OVERLAY.read_text(encoding="utf-8") + "  - {reference: QDe.004, alias: Not An Alias, reason: test}\n"
    )
    with pytest.raises(ConfigError) as caught:
        build(XML, overlay)
    line = len(overlay.read_text().splitlines())
    assert caught.value.problems == [
        f"{overlay}:{line}: exclude[{_exclusions(overlay) - 1}].alias: 'Not An Alias' is not an alias of 'QDe.004'; nothing to exclude"
    ]


def test_overlay_entry_for_a_reference_not_on_the_list_is_reported(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(OVERLAY.read_text(encoding="utf-8").replace("  QDe.132:", "  QDe.999:", 1))
    with pytest.raises(ConfigError) as caught:
        build(XML, overlay)
    assert len(caught.value.problems) == 1 and "'QDe.999' is not on the UN list" in caught.value.problems[0]


def test_plain_xml_and_gzip_build_the_same(tmp_path):
    plain = tmp_path / "list.xml"
    plain.write_bytes(gzip.decompress(XML.read_bytes()))
    assert build(plain, OVERLAY) == build(XML, OVERLAY)


def _exclusions(overlay: Path) -> int:
    return len(yaml.safe_load(overlay.read_text())["exclude"])
