"""Veiled threats (detectors/veiled.py): no act, but cues of two kinds near each other.

The shipped config/threats.yaml holds the cue lists; a small file of our own
checks the reading rules (window, emoji, stems, errors) without depending on them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detectors.configfile import ConfigError, Problems, load_yaml
from detectors.events import Post
from detectors.text import folded
from detectors.threats import VEILED_SCORE, ViolentThreatDetector
from detectors.veiled import load_veiled
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def detector() -> ViolentThreatDetector:
    problems = Problems()
    built = ViolentThreatDetector.from_config(ROOT / "config", problems)
    problems.raise_if_any()
    return built


def scan(detector: ViolentThreatDetector, text: str):
    post = Post(platform="x", post_id="1", account_id="a", posted_at=datetime(2026, 12, 3, tzinfo=UTC), text=text)
    return detector.detect([post])[0]


def veiled(detector, text: str):
    """The veiled finding for ``text``, or None (another reading or nothing)."""
    findings = scan(detector, text)
    return next((finding for finding in findings if finding.evidence.get("form") == "veiled"), None)


@pytest.mark.parametrize(
    "text",
    [
        # watching + warning: no violent act named at all
        "We found your home address in DHA. Think twice before your next column, mark my words.",
        # harm + no_escape
        "Your bodyguards can't protect you from acid, madam.",
        # Roman Urdu: watching + warning
        "tumhare bete ke school ka address mil gaya, yaad rakhna",
        # Urdu: harm + warning
        "دکان خالی کرو ورنہ پٹرول ہمارے پاس بہت ہے",
        # Pashto: harm + warning ("leave the shop, or else petrol; understand?")
        "دوکان خالي کړه کنه پټرول تیار دی، پوه شه",
    ],
)
def test_cues_of_two_kinds_are_a_veiled_threat_for_review(detector, text):
    finding = veiled(detector, text)
    assert finding is not None, text
    assert finding.score == VEILED_SCORE
    kinds = {cue["kind"] for cue in finding.evidence["cues"]}
    assert len(kinds) >= 2
    for cue in finding.evidence["cues"]:
        assert text[cue["start"] : cue["end"]] == cue["quote"]


def test_a_veiled_threat_is_review_not_takedown_under_the_shipped_policy():
    from detectors.pipeline import Pipeline

    pipeline = Pipeline.from_config_dir(ROOT / "config")
    post = Post(
        platform="facebook",
        post_id="v1",
        account_id="a",
        posted_at=datetime(2026, 12, 3, tzinfo=UTC),
        text="We found your home address in DHA. Think twice before your next column, mark my words.",
    )
    (result,) = pipeline.scan([post])
    assert result.action == "review"


@pytest.mark.parametrize(
    "text",
    [
        "Mark my words, this team wins the cup.",  # one kind (warning)
        "My uncle has been in hospital since Tuesday.",  # one kind (harm)
        "humein pata hai ke exam mushkil hoga",  # one kind (watching)
    ],
)
def test_one_kind_of_cue_is_everyday_speech(detector, text):
    assert veiled(detector, text) is None


@pytest.mark.parametrize(
    "text",
    [
        # news: reporting verbs excuse the cues
        "Police said the shopkeeper was told his address was known and warned to think twice.",
        # condemnation
        "We condemn the messages telling the reporter that her home address is known: think twice, they said.",
        # analysis
        "A study of extortion letters finds phrases like 'we know your address' and 'think twice' in most of them.",
    ],
)
def test_reporting_analysis_and_condemnation_excuse_the_cues(detector, text):
    assert veiled(detector, text) is None


def test_one_framing_word_does_not_excuse_a_post_that_speaks_to_its_target(detector):
    # "report" is a framing word, but the post addresses its target and menaces them.
    assert (
        veiled(detector, "File one more report on us and see what happens to your home address, think twice")
        is not None
    )
    # Two framing words: the post is about the threat, not the threat.
    assert veiled(detector, "The report said, according to police, 'we know your home address, think twice'") is None


def test_idioms_excuse_harm_and_warning_but_not_knowing_where_somebody_lives(detector):
    assert veiled(detector, "Next time we play cricket my bowling will break your bones lol") is None
    # (a surprise visit shows knowledge of whereabouts: the kind "watching")
    assert veiled(detector, "lol nice match. expect a surprise visit, think twice before the next one") is not None


def test_cues_in_quotation_marks_are_somebody_elses_words(detector):
    assert veiled(detector, 'The sign on the wall read: "we know where you live, mark my words"') is None


def test_cues_far_apart_in_a_long_text_are_no_menace(detector):
    filler = " ".join(["the committee discussed the annual budget for roads and schools"] * 6)
    assert veiled(detector, f"Mark my words. {filler}. My uncle is in hospital.") is None
    assert veiled(detector, "Mark my words. My uncle will end up in hospital because of you.") is not None


def test_a_framed_act_may_still_be_a_veiled_threat(detector):
    # "acid is cheap" is an intimidation act; one framing word ("investigation") would
    # record it only, but the post speaks to its target with a warning: review.
    text = "Drop your investigation into our business. Acid is cheap, think twice."
    findings = scan(detector, text)
    assert findings and findings[0].score >= VEILED_SCORE


def write_cues(tmp_path, body: str):
    path = tmp_path / "threats.yaml"
    path.write_text(body, encoding="utf-8")
    problems = Problems()
    cues = load_veiled(load_yaml(path, problems))
    return cues, problems


def test_emoji_count_only_beside_a_word_cue_and_stems_take_any_ending(tmp_path):
    cues, problems = write_cues(
        tmp_path,
        "veiled:\n  harm: {en: [petrol], emoji: ['🔪']}\n  warning: {en: ['regret*'], emoji: ['😈']}\n"
        "  watching: {en: [know where]}\n  no_escape: {en: [nowhere to hide]}\n",
    )
    problems.raise_if_any()

    def kinds(text):
        return cues.families(cues.cues(folded(text), text), folded(text))

    assert kinds("🔪😈") == frozenset()  # emoji alone
    assert kinds("you will regret it 🔪") == {"warning", "harm"}
    assert kinds("regretted, regretful, regrets") == {"warning"}  # a stem takes any ending
    assert kinds("petrolhead") == frozenset()  # a word without * takes only plural endings
    assert kinds("petrols") == {"harm"}


def test_window_words_bounds_how_far_apart_cues_count_together(tmp_path):
    cues, problems = write_cues(
        tmp_path,
        "veiled:\n  window_words: 3\n  harm: {en: [petrol]}\n  warning: {en: [or else]}\n"
        "  watching: {en: [know where]}\n  no_escape: {en: [nowhere to hide]}\n",
    )
    problems.raise_if_any()
    near = "or else petrol"
    far = "or else one two three four five petrol"
    assert cues.families(cues.cues(folded(near), near), folded(near)) == {"warning", "harm"}
    assert len(cues.families(cues.cues(folded(far), far), folded(far))) == 1


def test_a_bad_cue_section_is_reported_with_file_line_and_field(tmp_path):
    _, problems = write_cues(
        tmp_path,
        "veiled:\n  min_families: 1\n  harm: {fr: [essence]}\n  warning: {en: [or else]}\n"
        "  watching: {en: [know where]}\n  no_escape: {en: [nowhere to hide]}\n",
    )
    with pytest.raises(ConfigError) as raised:
        problems.raise_if_any()
    message = str(raised.value)
    assert "threats.yaml:2: veiled.min_families: must be at least 2" in message
    assert "threats.yaml:3: veiled.harm.fr: 'fr' is not one of" in message


def test_a_misspelt_veiled_key_is_refused(tmp_path):
    shipped = (ROOT / "config" / "threats.yaml").read_text(encoding="utf-8")
    (tmp_path / "threats.yaml").write_text(shipped.replace("  window_words:", "  window_wrds:"), encoding="utf-8")
    problems = Problems()
    ViolentThreatDetector.from_config(tmp_path, problems)
    with pytest.raises(ConfigError, match=r"window_wrds: .*did you mean 'window_words'"):
        problems.raise_if_any()
