"""The designated-organisation detector: names in context, not names alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detectors.configfile import Problems
from detectors.designation_lists import load_designations
from detectors.designations import DesignatedOrganisationDetector
from detectors.events import Post
from tests.conftest import ROOT

# Cues of the detector's own tests, so that editing config/cues.yaml cannot change them.
CUES = {
    "promotion": (("en", "join"), ("en", "long live"), ("roman_ur", "zindabad"), ("ur", "زندہ باد")),
    "threat": (("en", "will attack"),),
    "counter": (("en", "condemn"), ("en", "police said"), ("ur", "مذمت")),
}


@pytest.fixture(scope="module")
def detector() -> DesignatedOrganisationDetector:
    problems = Problems()
    organisations = load_designations(ROOT / "config" / "designations.yaml", problems)
    problems.raise_if_any()
    return DesignatedOrganisationDetector(organisations, CUES)


def scan(detector, text: str):
    post = Post(platform="x", post_id="1", account_id="a", posted_at=datetime(2026, 11, 29, tzinfo=UTC), text=text)
    return detector.detect([post])[0]


def categories(findings) -> list[tuple[str, float]]:
    return [(finding.category, finding.score) for finding in findings]


def test_name_with_a_promotion_cue_is_terrorism_promotion(detector):
    findings = scan(detector, "Long live Tehrik-e-Taliban Pakistan")
    assert categories(findings) == [("terrorism_promotion", 0.9)]
    evidence = findings[0].evidence
    assert evidence["organisations"] == ["QDe.132"]
    assert "UN 1267 QDe.132" in evidence["designations"]
    assert evidence["cues"][0]["quote"] == "Long live"


def test_name_with_a_threat_cue_is_a_violent_threat(detector):
    assert categories(scan(detector, "Lashkar-e-Tayyiba will attack")) == [("violent_threat", 0.9)]


def test_condemnation_of_a_named_group_is_a_low_score_mention(detector):
    findings = scan(detector, "We condemn Tehrik-e-Taliban Pakistan and pray for the victims")
    assert categories(findings) == [("designated_organisation_mention", 0.2)]
    assert findings[0].evidence["cues"][0]["kind"] == "counter"


def test_counter_cue_beside_praise_of_the_group_asks_a_person(detector):
    # News quoting a slogan, or propaganda borrowing a news word: neither takedown nor silence.
    findings = scan(detector, "We condemn the chant they posted: long live Tehrik-e-Taliban Pakistan")
    assert categories(findings) == [("designated_organisation_mention", 0.5)]
    assert {cue["kind"] for cue in findings[0].evidence["cues"]} == {"counter", "promotion"}


def test_praise_far_from_the_name_is_not_praise_of_the_group(detector):
    text = "Long live the brave teachers of our village school who kept every child safe from Tehrik-e-Taliban Pakistan"
    assert categories(scan(detector, text)) == [("designated_organisation_mention", 0.5)]


def test_threat_anywhere_in_the_post_counts(detector):
    text = "A message from Lashkar-e-Tayyiba to the people of this valley and its police: we will attack"
    assert categories(scan(detector, text)) == [("violent_threat", 0.9)]


def test_urdu_name_joined_by_a_zero_width_non_joiner_matches(detector):
    findings = scan(detector, "جیش\u200cمحمد زندہ باد")
    assert categories(findings) == [("terrorism_promotion", 0.9)]
    assert findings[0].evidence["organisations"] == ["QDe.019"]


def test_news_report_in_urdu_is_a_low_score_mention(detector):
    assert categories(scan(detector, "تحریک طالبان پاکستان کے حملے کی مذمت")) == [
        ("designated_organisation_mention", 0.2)
    ]


def test_name_alone_is_a_mention_for_review(detector):
    assert categories(scan(detector, "A documentary about the Haqqani Network")) == [
        ("designated_organisation_mention", 0.5)
    ]


def test_acronym_alone_is_not_a_mention(detector):
    assert scan(detector, "TTP claimed it, they say") == []


def test_acronym_with_a_cue_counts(detector):
    assert categories(scan(detector, "Long live TTP")) == [("terrorism_promotion", 0.9)]


def test_lowercase_word_that_spells_an_acronym_is_not_one(detector):
    assert scan(detector, "let's join the cricket club, long live the game") == []


def test_acronym_in_a_post_written_in_capitals_is_a_word(detector):
    assert scan(detector, "LET US ALL JOIN THE PRAYER TONIGHT") == []


def test_weak_acronym_with_a_cue_but_no_name_is_ignored(detector):
    assert scan(detector, "Join MIT for the robotics open day") == []


def test_obfuscated_name_is_found_and_quoted_as_written(detector):
    text = "join T.T.P now, T4l1b4n brothers"
    findings = scan(detector, text)
    quotes = {mention["quote"] for mention in findings[0].evidence["mentions"]}
    assert "T.T.P" in quotes
    for mention in findings[0].evidence["mentions"]:
        assert text[mention["start"] : mention["end"]] == mention["quote"]


def test_zero_width_space_inside_a_name_does_not_hide_it(detector):
    findings = scan(detector, "long live Lashkar-e-Tay\u200byiba")
    assert categories(findings) == [("terrorism_promotion", 0.9)]
    assert findings[0].evidence["mentions"][0]["quote"] == "Lashkar-e-Tay\u200byiba"


def test_arabic_letter_variants_match_the_urdu_alias(detector):
    # Arabic yeh and kaf (ي ك) where Urdu writes ی ک, plus a tatweel.
    assert categories(scan(detector, "تحريك طالبان پاكستـان زندہ باد")) == [("terrorism_promotion", 0.9)]


def test_name_after_a_joined_arabic_conjunction_matches(detector):
    findings = scan(detector, "زندہ باد والقاعدہ")
    assert categories(findings) == [("terrorism_promotion", 0.9)]
    assert findings[0].evidence["organisations"] == ["QDe.004"]


def test_name_inside_a_longer_latin_word_does_not_match(detector):
    assert scan(detector, "join the alqaidaville fan club") == []


def test_findings_come_back_one_list_per_post_in_order(detector):
    posts = [
        Post("x", str(n), "a", datetime(2026, 11, 29, tzinfo=UTC), text=text)
        for n, text in enumerate(["hello", "Long live TTP", "", "Haqqani Network"])
    ]
    found = detector.detect(posts)
    assert [len(findings) for findings in found] == [0, 1, 0, 1]
