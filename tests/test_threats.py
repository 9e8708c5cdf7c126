"""Violent threats as grammar: act + form + target, in four languages, with counter-evidence.

These tests use the shipped config/threats.yaml: the grammar is the product.
Each example states in its comment what it shows; the functional suite
(tests/test_functional_suite.py) measures the grammar on posts written by others.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors.configfile import ConfigError, Problems
from detectors.events import Post
from detectors.threats import FRAMED_SCORE, STRONG_SCORE, THREAT_SCORE, ViolentThreatDetector
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def detector() -> ViolentThreatDetector:
    problems = Problems()
    built = ViolentThreatDetector.from_config(ROOT / "config", problems)
    problems.raise_if_any()
    return built


def scan(detector: ViolentThreatDetector, text: str):
    post = Post(platform="x", post_id="1", account_id="a", posted_at=datetime(2026, 12, 2, tzinfo=UTC), text=text)
    return detector.detect([post])[0]


def score(detector, text: str) -> float | None:
    findings = scan(detector, text)
    return findings[0].score if findings else None


# -- the examples: threats with a target and a time or a means -> takedown score


@pytest.mark.parametrize(
    "text",
    [
        "We know which school your kids go to. Tomorrow morning we will burn it down with them inside.",
        "Is judge ko agle hafte goli maar denge, uska ghar humein pata hai",
        "ہم اس وزیر کو اگلے جمعے گولی مار دیں گے",
        "موږ به سبا دغه قاضي ووژنو",
    ],
)
def test_threat_with_target_and_time_or_means_scores_for_takedown(detector, text):
    assert score(detector, text) == STRONG_SCORE


@pytest.mark.parametrize(
    "text",
    [
        # English: future, imperative, passive, normative
        "I'll kill you",
        "kill them all",
        "your family will be killed one by one",
        "that judge should be hanged",
        # Roman Urdu inflections and spellings: maarenge / maar dein ge / qatl kar denge / maaro
        "hum usay maarenge",
        "hum tumhe maar dein ge",
        "is blogger ko qatal kar denge",
        "in gustakhon ko maaro",
        # Urdu: ماریں گے / مار دو / normative with چاہیے
        "ہم تمہیں ماریں گے",
        "ان غداروں کو مار دو",
        "ایسے جج کو پھانسی دی جانی چاہیے",
        # Pashto: future with به, imperative, passive after باید
        "موږ به تا ووژنو",
        "کافران ووژنئ",
        "دغه انکر باید ووژل شي",
    ],
)
def test_threat_forms_in_four_languages_are_found(detector, text):
    assert score(detector, text) in (THREAT_SCORE, STRONG_SCORE), text


def test_a_threat_needs_no_designated_name(detector):
    # Nothing in the grammar knows any organisation: the finding's evidence names the act and target only.
    finding = scan(detector, "We will shoot the minister at the rally tomorrow")[0]
    assert finding.category == "violent_threat"
    assert set(finding.evidence) >= {"act", "target", "time", "means", "form", "language"}
    assert "organisations" not in finding.evidence


def test_evidence_quotes_each_span_from_the_original_text(detector):
    text = "Kal subah tumhare school ko aag laga denge"
    finding = scan(detector, text)[0]
    for role in ("act",):
        span = finding.evidence[role]
        assert text[span["start"] : span["end"]] == span["quote"]
    assert finding.evidence["act"]["quote"] == "aag laga denge"
    assert {item["quote"] for item in finding.evidence["time"]} >= {"Kal"}
    assert any(item["quote"] == "school" for item in finding.evidence["target"])


# -- counter-evidence


@pytest.mark.parametrize(
    "text",
    [
        "We will never kill anyone",
        "hum tumhe nahi maarenge",
        "ہم تمہیں نہیں ماریں گے",
        "موږ به تا نه وژنو",
    ],
)
def test_negated_acts_are_not_threats(detector, text):
    assert scan(detector, text) == []


@pytest.mark.parametrize(
    "text",
    [
        "What an innings, he absolutely killed it tonight, that last six was the bomb",
        "I'm going to kill it on stage tonight",
        "bro I will kill you in PUBG tonight, headshot guaranteed",
        "Babar ne aaj bowlers ko maar maar ke dhulai kar di, kya innings thi",
        "this track is fire, the beat kills",
    ],
)
def test_idioms_of_sport_games_and_music_are_not_threats(detector, text):
    assert scan(detector, text) == []


def test_a_weapon_outweighs_an_idiom_word(detector):
    # "exam" is an idiom word, but a bomb at the college gate is no idiom.
    assert score(detector, "On exam day we will bomb the college gate and kill them all") == STRONG_SCORE


@pytest.mark.parametrize(
    "text",
    [
        'Police said the attackers shouted "we will kill the judge" before fleeing',
        "ترجمان کے مطابق ملزمان نے کہا تھا کہ ہم جج کو قتل کر دیں گے",
        "Our paper analyses the rhetoric of posts like 'we will burn your school tomorrow'",
    ],
)
def test_reported_quoted_or_analysed_threats_are_recorded_not_actioned(detector, text):
    findings = scan(detector, text)
    assert [finding.score for finding in findings] == [FRAMED_SCORE]
    assert findings[0].evidence["framing"]


def test_act_without_target_is_not_a_finding(detector):
    # "kill the lights" is an imperative with an object, but no person, group or place.
    assert scan(detector, "kill the lights and go to sleep") == []


def test_posts_without_violent_words_skip_the_grammar(detector):
    # The prefilter: an ordinary post costs one automaton pass and finds nothing.
    assert not detector.candidate("the weather is lovely and we are going to the park with friends")
    assert detector.candidate("we will kiii you")  # folded text: "l" folds to "i"


def test_every_act_the_grammar_finds_passes_the_prefilter(detector):
    # Each act pattern must contain a prefilter anchor, or the prefilter would hide it.
    texts = [
        "We know where you live",
        "your days are numbered",
        "humein tumhara ghar pata hai",
        "ہمیں تمہارا گھر معلوم ہے",
        "موږ پوهیږو چې ته چېرته اوسې",
        "you will die",
        "Death to the traitors",
        "Whoever shows up goes home in a coffin",
        "zinda nahi bachoge",
    ]
    for text in texts:
        acts = detector._acts(text)
        assert acts, text
        from detectors.text import normalise

        assert detector.candidate(normalise(text).text), text


# -- the grammar file


def write_grammar(tmp_path: Path, acts: str, words: str = "  act_x: [kill]\n") -> Path:
    shipped = (ROOT / "config" / "threats.yaml").read_text(encoding="utf-8")
    roles = shipped[shipped.index("\nroles:") :]
    (tmp_path / "threats.yaml").write_text(f"words:\n{words}acts:\n{acts}{roles}", encoding="utf-8")
    return tmp_path


def test_unknown_word_list_in_a_pattern_reports_file_line_and_field(tmp_path):
    config = write_grammar(tmp_path, '  - {language: en, form: future, pattern: "we will {act_y}"}\n')
    with pytest.raises(ConfigError) as raised:
        problems = Problems()
        ViolentThreatDetector.from_config(config, problems)
        problems.raise_if_any()
    assert re.search(r"threats\.yaml:4: acts\[0\]\.pattern: refers to 'act_y', not in words", str(raised.value))


def test_pattern_without_prefilter_anchor_is_refused(tmp_path):
    config = write_grammar(tmp_path, '  - {language: en, form: future, pattern: "we know where"}\n')
    problems = Problems()
    ViolentThreatDetector.from_config(config, problems)
    assert any("gives no anchors" in message for message in problems.messages)


def test_invalid_regular_expression_is_reported_not_raised(tmp_path):
    config = write_grammar(tmp_path, '  - {language: en, form: future, pattern: "we will ({act_x}"}\n')
    problems = Problems()
    ViolentThreatDetector.from_config(config, problems)
    assert any("not a valid regular expression" in message for message in problems.messages)


# -- forms added after the held-back scores


@pytest.mark.parametrize(
    "text",
    [
        "pay the 5 lakh by monday or ur shop gets shot up",  # ultimatum
        "nomination wapis lo warna tumhe dafna denge",  # Roman Urdu ultimatum, burying
        "Tell that polio team: not one of them is going home alive",  # negated survival
        "agar dobara aaye to teri laash naale mein milegi",  # corpse + future
        "سبا به یې جنازه له ښوونځي نه راوځي",  # Pashto funeral
        "اس کی زبان کاٹ کر اسی کے ہاتھ میں تھما دی جائے گی",  # conjunctive participle + future
    ],
)
def test_ultimatums_corpses_funerals_and_survival_threats_are_found(detector, text):
    assert score(detector, text) in (THREAT_SCORE, STRONG_SCORE), text


def test_weapon_emoji_in_a_condition_against_a_named_target_goes_to_review(detector):
    assert score(detector, "tu gate se bahar nikla to 🔪") == THREAT_SCORE
    # The same emoji with no condition and no target is no threat.
    assert scan(detector, "new kitchen knives arrived 🔪") == []


def test_a_weapon_used_as_praise_in_another_clause_does_not_outweigh_a_food_idiom(detector):
    assert scan(detector, "دا کابلي پلاو خو بم دی، یو ځل یې وخوره، له خوند به مړ شې") == []


def test_condemnation_vocabulary_frames_a_bombing_report(detector):
    findings = scan(detector, "The Quetta bombing claimed by Daesh is an unforgivable crime. We will never forget")
    assert all(finding.score <= FRAMED_SCORE for finding in findings)


class _FixedModel:
    """A stand-in threat model with a known score, to test how the detector uses it."""

    file_name, sha256, threshold = "fixed.skops", "0" * 64, 0.3

    def __init__(self, probability: float):
        self.probability = probability

    def score(self, texts):
        import numpy as np

        return np.full(len(texts), self.probability)


def test_model_decides_english_posts_with_a_violent_word_the_grammar_cannot_place(detector):
    text = "those people deserve what is coming, we will bury them all"  # "bury" + no grammar target form
    with_model = ViolentThreatDetector(detector.grammar, _FixedModel(0.9), model_threshold=0.6)
    plain = scan(ViolentThreatDetector(detector.grammar), "that cop was shot at the protest")
    assert plain == []
    findings = scan(with_model, "that cop was shot at the protest")
    assert [finding.evidence["form"] for finding in findings] == ["model"]
    assert findings[0].score == 0.6 and findings[0].evidence["probability"] == 0.9
    # Below the threshold, or framed as news, or in another language: nothing.
    assert (
        scan(
            ViolentThreatDetector(detector.grammar, _FixedModel(0.5), model_threshold=0.6),
            "that cop was shot at the protest",
        )
        == []
    )
    assert scan(with_model, "police said that a cop was shot at the protest") == []
    assert scan(with_model, "woh cop protest mein shot hua tha yaar") == []
    assert text  # the grammar's own reading of such posts is tested above


def test_shipped_config_loads_the_english_threat_model_with_a_stricter_threshold(detector):
    assert detector.model is not None and detector.model.file_name == "threat-en.skops"
    assert detector.model_threshold == 0.6 > detector.model.threshold
