"""Violent threats, read as grammar in English, Urdu, Roman Urdu and Pashto.

A threat is a threat whoever makes it, so this detector never looks at
designations. It reads a post in three steps:

1. **Prefilter.** One Aho-Corasick pass over the folded post
   (:func:`detectors.text.normalise`) for the words of every violent act
   ("kill", "maar", "مار", "ووژنو", ...), at word starts. Most posts have none
   and cost one pass; only the rest are parsed.
2. **Acts.** Each clause (sentences split at full stops, question marks and
   commas) is matched against the act patterns of ``config/threats.yaml``: a
   violent act in a threatening *form* (future, imperative, passive,
   normative, intimidation). An act with a negation in it or just before it
   ("we will never", "nahi", "نہیں", "نه") does not count, except an
   intimidation, whose negation is the threat ("zinda nahi bachoge").
3. **Roles and framing.** Over the whole post: a *target* (a person, a group,
   a place, an event; in Urdu and Roman Urdu also any word marked as the object
   with "ko"/"کو" just before the act), a *time* and a *means*; and the framing
   that makes a threat-shaped sentence something else: reported speech and
   news, analysis, refutation, hypotheticals, idioms of sport, games and music,
   or an act inside quotation marks.

Scores (config/policy.yaml turns them into actions):

* act + target + (time or means) -> :data:`STRONG_SCORE` (takedown);
* act + target, or intimidation   -> :data:`THREAT_SCORE` (review);
* act + time or weapon, no target we know ("kal poora hall uda denge":
  the hall is no word of ours)   -> :data:`THREAT_SCORE` (review);
* the same inside reporting, analysis, refutation or quotation ->
  :data:`FRAMED_SCORE`: recorded, never actioned;
* an act with no target, or inside an idiom or a hypothetical -> no finding.

**The English threat model** (:mod:`detectors.threat_model`, trained on
implicit_hate's ``threatening`` class with hard negatives) reads what the
grammar could not: an English post that holds a violent word but no threat the
grammar recognises goes to review (:data:`MODEL_SCORE`) when the model's
probability reaches its threshold, unless framing or idiom explains it. The
model never sees posts without a violent word (the prefilter), so it adds no
review to ordinary posts; it is not used for Urdu, Roman Urdu or Pashto, for
which no labelled threat data exists to train or measure it.

The evidence names each span (act, target, time, means) with its offsets in
the original text, so a reviewer sees why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import ahocorasick

from detectors.base import Finding
from detectors.configfile import Problems, load_yaml
from detectors.events import Post
from detectors.language import guess_language
from detectors.spans import described as _described
from detectors.spans import first as _first
from detectors.spans import inside as _inside
from detectors.spans import spans as _spans
from detectors.text import folded, folded_with_offsets, normalise, quoted_spans
from detectors.threat_grammar import ActPattern, ThreatGrammar, load_grammar
from detectors.veiled import UNEXCUSED_BY_IDIOM, VeiledCues, cue_at, load_veiled

# Forms whose grammatical subject is the target ("that judge should be hanged", "وژل به شي").
IMPLICIT_TARGET_FORMS = frozenset({"passive", "normative", "intimidation", "conditional"})
CATEGORY = "violent_threat"

STRONG_SCORE = 0.9  # act, target and a time or a means: specific enough to request removal
THREAT_SCORE = 0.7  # act and target, or intimidation: a person decides
FRAMED_SCORE = 0.3  # threat-shaped words inside news, analysis, refutation or quotes: recorded only
MODEL_SCORE = 0.6  # a violent word the grammar could not place, that the English model calls a threat: review
VEILED_SCORE = 0.6  # no act, but harm, warning, watching or no-escape words of two kinds at a target: review

# Words before an act in which a negation cancels it ("we will never kill" has
# it inside the act; "hum nahi maarenge" just before it).
NEGATION_WINDOW_WORDS = 2
# Urdu and Roman Urdu mark a definite object with "ko"/"کو": the word before
# it is the target when it stands this close before the act.
OBJECT_WINDOW_WORDS = 4

# Clauses end at sentence and clause punctuation and at quotation marks: a quoted
# slogan is a clause of its own ("he forwarded 'hang them all'").
_CLAUSE_BREAK = re.compile(r"[!?؟۔\n;,،:\"“”«»„‘’]+|\.(?=\s|$)|\s[-–—]\s|(?:^|(?<=\s))'|'(?=[\s.,!?;:)]|$)")
_OBJECT_MARKERS = frozenset({"ko", "کو"})


@dataclass(frozen=True, slots=True)
class _Act:
    pattern: ActPattern
    start: int  # in the original text
    end: int
    clause_start: int  # in the original text
    clause_end: int


class ViolentThreatDetector:
    name: ClassVar[str] = "violent_threat"

    def __init__(
        self,
        grammar: ThreatGrammar,
        model=None,
        model_threshold: float | None = None,
        veiled: VeiledCues | None = None,
    ):
        self.grammar = grammar
        self.veiled = veiled  # detectors.veiled: threats that name no act, read from their cues
        self.signalled: set[str] = set()  # of the last batch: what the extremism model's gate asks
        self.model = model  # detectors.threat_model.ThreatModel, or None
        # The probability from which the model sends a post to review: the model's own
        # (F1-best) threshold unless threats.yaml sets a stricter one.
        self.model_threshold = model_threshold if model_threshold is not None else getattr(model, "threshold", 1.0)
        # anchor -> the act patterns that contain it: a post runs only the patterns
        # whose anchors it holds, not the whole grammar.
        patterns_of: dict[str, set[int]] = {}
        for index, pattern in enumerate(grammar.acts):
            for anchor in pattern.anchors:
                patterns_of.setdefault(anchor, set()).add(index)
        self._prefilter = ahocorasick.Automaton()
        for anchor, indices in patterns_of.items():
            self._prefilter.add_word(anchor, (len(anchor), frozenset(indices)))
        self._empty = not patterns_of
        self._requiring = frozenset(index for index, pattern in enumerate(grammar.acts) if pattern.requires)
        if not self._empty:
            self._prefilter.make_automaton()
        # One pass over a post for both act anchors and veiled cues (each pass over a
        # 150-character post costs ~5 us): key -> (anchor's (length, patterns) or None, cues).
        self._signals = ahocorasick.Automaton()
        keyed: dict[str, tuple] = {
            anchor: ((len(anchor), frozenset(indices)), []) for anchor, indices in patterns_of.items()
        }
        for key, family, stem in veiled.entries if veiled is not None else ():
            keyed.setdefault(key, (None, []))[1].append((family, len(key), stem))
        for key, (anchor, cues) in keyed.items():
            self._signals.add_word(key, (anchor, tuple(cues)))
        if keyed:
            self._signals.make_automaton()

    @classmethod
    def from_config(cls, config_dir: Path, problems: Problems) -> ViolentThreatDetector:
        path = Path(config_dir) / "threats.yaml"
        document = load_yaml(path, problems)
        grammar = load_grammar(path, problems, document)
        relative = document.text(("model",))
        model = None
        if relative.strip():
            from detectors.model_files import ModelFileError
            from detectors.threat_model import ThreatModel

            try:
                model = ThreatModel.load(Path(config_dir) / relative)
            except ModelFileError as error:
                document.problem(("model",), str(error))
        threshold = document.get(("model_threshold",))
        if threshold is not None:
            threshold = document.number(("model_threshold",), default=1.0, minimum=0.0, maximum=1.0)
        return cls(grammar, model, threshold, load_veiled(document))

    def detect(self, posts: Sequence[Post]) -> list[list[Finding]]:
        found = []
        undecided = []  # (index, text): English candidates the grammar could not place
        self.signalled = set()  # texts of this batch with a violent word, weapon emoji or veiled cue
        for index, post in enumerate(posts):
            patterns, cues = self._scan(folded(post.text)) if post.text else (_NONE, [])
            findings = self._detect_one(post.text, undecided_index=index, undecided=undecided, patterns=patterns)
            if self.veiled is not None and (not findings or all(f.score < VEILED_SCORE for f in findings)):
                # No act, or one its framing explained: the cues may still make a veiled threat.
                findings = self._veiled_threat(post.text, cues) or findings
            if findings:
                self.signalled.add(post.text)
            found.append(findings)
        if undecided and self.model is not None:
            scores = self.model.score([text for _, text in undecided])
            for (index, text), probability in zip(undecided, scores):
                if probability >= self.model_threshold:
                    found[index] = [self._model_finding(text, float(probability))]
        return found

    def _veiled_threat(self, text: str, word_cues: list | None = None) -> list[Finding]:
        """A threat that names no act, read from its cues (:mod:`detectors.veiled`), or nothing.

        ``word_cues``: the post's word cues, when the caller found them already (:meth:`_scan`).
        """
        if not text:
            return []
        folded_text = folded(text)
        if word_cues is None:
            cues = self.veiled.cues(folded_text, text)
        else:
            cues = word_cues + self.veiled.emoji_cues(text)
        if not cues:
            return []
        self.signalled.add(text)
        families = self.veiled.families(cues, folded_text)
        if len(families) < self.veiled.min_families:
            return []
        post = folded_with_offsets(text)
        target = self.grammar.roles.get("target")
        targets = _spans(target, post) if target is not None else []
        framing = {
            kind: len(regex.findall(post.text)) for kind, regex in self.grammar.framings.items() if regex is not None
        }
        framing = {kind: count for kind, count in framing.items() if count}
        idiom = framing.pop("idiom", 0)
        # One framing word in a post that speaks to its target ("keep writing your
        # 'investigations' and see what happens to your office") is part of the threat;
        # reporting, analysis and condemnation speak about people, or use more than one.
        if framing and (sum(framing.values()) > 1 or not self.veiled.addressed(post.text)):
            return []
        if idiom and not families & UNEXCUSED_BY_IDIOM:
            return []
        spans = [post.original_span(cue.start, cue.end) if cue.folded else (cue.start, cue.end) for cue in cues]
        quoted = quoted_spans(text)
        if quoted and all(any(_inside(span, outer) for outer in quoted) for span in spans):
            return []  # the cues are somebody else's words
        evidence = {
            "language": guess_language(text),
            "form": "veiled",
            "cues": [
                {"kind": cue.family, **_described(text, span)}
                for cue, span in sorted(zip(cues, spans), key=lambda pair: pair[1])[:6]
            ],
            "target": [_described(text, span) for span in _first(targets, 3)],
        }
        return [Finding(self.name, CATEGORY, VEILED_SCORE, MappingProxyType(evidence))]

    def _model_finding(self, text: str, probability: float) -> Finding:
        evidence = {
            "language": "en",
            "form": "model",
            "model": self.model.file_name,
            "model_sha256": self.model.sha256,
            "probability": round(probability, 4),
            "threshold": round(self.model_threshold, 4),
        }
        return Finding(self.name, CATEGORY, MODEL_SCORE, MappingProxyType(evidence))

    def _scan(self, text: str) -> tuple[frozenset[int], list]:
        """The act patterns worth running on folded ``text`` (as :meth:`candidate`) and its
        veiled word cues, from one pass of the combined automaton."""
        if not text or not len(self._signals):
            return _NONE, []
        endings = self.grammar.endings
        found: set[int] = set()
        cues = []
        for end_index, (anchor, cue_keys) in self._signals.iter(text):
            if anchor is not None:
                start = end_index - anchor[0] + 1
                if start == 0 or text[start - 1] == " ":
                    word_end = text.find(" ", end_index + 1)
                    if text[end_index + 1 : word_end if word_end >= 0 else len(text)] in endings:
                        found |= anchor[1]
            for family, length, stem in cue_keys:
                cue = cue_at(text, end_index, family, length, stem)
                if cue is not None:
                    cues.append(cue)
        return self._required(found, text), cues

    def _required(self, found: set[int], text: str) -> frozenset[int]:
        """``found`` less the patterns whose required co-word the post lacks."""
        if not found:
            return _NONE
        if self._requiring & found:
            words = set(text.split())
            found = {
                index
                for index in found
                if not self.grammar.acts[index].requires or self.grammar.acts[index].requires & words
            }
        return frozenset(found)

    def candidate(self, text: str) -> frozenset[int]:
        """The act patterns worth running on folded ``text``: those with an anchor at a
        word start whose word ends in one of the grammar's endings (empty: none; cheap)."""
        if self._empty or not text:
            return _NONE
        endings = self.grammar.endings
        found: set[int] = set()
        for end_index, (length, indices) in self._prefilter.iter(text):
            start = end_index - length + 1
            if start == 0 or text[start - 1] == " ":
                word_end = text.find(" ", end_index + 1)
                if text[end_index + 1 : word_end if word_end >= 0 else len(text)] in endings:
                    found |= indices
        return self._required(found, text)

    def _detect_one(
        self, text: str, undecided_index: int = 0, undecided: list | None = None, patterns: frozenset[int] | None = None
    ) -> list[Finding]:
        acts = self._violent_acts(text, patterns)
        if acts is None:
            return []
        self.signalled.add(text)
        model_may_decide = undecided is not None and self.model is not None
        if not acts and not model_may_decide:
            return []
        post = folded_with_offsets(text)
        framing = {kind: _spans(regex, post) for kind, regex in self.grammar.framings.items() if regex is not None}
        framing = {kind: spans for kind, spans in framing.items() if spans}
        if not acts:
            # A violent word in no threat form the grammar knows: the English model decides,
            # unless the post is framed (news, analysis, refutation, idiom, hypothetical).
            if model_may_decide and not framing and guess_language(text) == "en":
                undecided.append((undecided_index, text))
            return []
        roles = {role: _spans(regex, post) if regex is not None else [] for role, regex in self.grammar.roles.items()}
        acts = self._unexplained_acts(text, acts, framing, roles)
        if not acts:
            return []
        best = self._strongest_reading(text, acts, framing, roles)
        if best is None:
            return []
        return [self._finding(text, *best, roles, framing)]

    def _violent_acts(self, text: str, patterns: frozenset[int] | None = None) -> list[_Act] | None:
        """The acts in ``text``; None when it holds no violent word or weapon emoji at all.

        An empty list is a violent word in no threat form the grammar knows. ``patterns``:
        :meth:`candidate` of the folded text, when the caller has it already.
        """
        if patterns is None:
            patterns = self.candidate(folded(text)) if text else frozenset()
        emoji = _WEAPON_EMOJI.search(text) if text and not text.isascii() else None
        if not patterns and emoji is None:
            return None
        acts = self._acts(text, patterns) if patterns else []
        if not acts and emoji is not None and _CONDITION.search(text):
            # A knife or gun emoji as the consequence of a condition ("if you come out
            # of the gate, 🔪"): the emoji is the act; the target must still be named.
            clause_start = max((m.end() for m in _CLAUSE_BREAK.finditer(text, 0, emoji.start())), default=0)
            acts = [_Act(_EMOJI_ACT, emoji.start(), emoji.end(), clause_start, emoji.end())]
        return acts

    @staticmethod
    def _unexplained_acts(text: str, acts: list[_Act], framing: dict, roles: dict) -> list[_Act]:
        """The acts a hypothetical or an idiom does not explain away; takes "idiom" out of ``framing``."""
        # An idiom word dismisses the post ("killed it on stage", "the exam"), unless
        # a weapon is named ("on exam day we will bomb the college gate"), or it stands in
        # the condition of a conditional threat ("if there is music at the wedding, then
        # we will blow it up"): there it names what the threat forbids.
        grammar_acts = [act for act in acts if act.pattern is not _EMOJI_ACT]
        if "idiom" in framing and any(_in_condition(text, span, grammar_acts) for span in framing["idiom"]):
            # The condition names what the threat forbids ("if you put up a stage for the
            # concert, you will hang on that stage"): its words are no idiom.
            del framing["idiom"]
        if "hypothetical" in framing:
            return []
        if "idiom" in framing:
            # Idioms explain violent verbs ("killed it"), never intimidation ("we know where you
            # live"), nor an act with a weapon in its own clause ("this pulao is a bomb" is not).
            acts = [
                act
                for act in acts
                if act.pattern.form == "intimidation"
                or (
                    act.pattern is not _EMOJI_ACT
                    and any(act.clause_start <= start and end <= act.clause_end for start, end in roles["weapon"])
                )
            ]
        framing.pop("idiom", None)
        return acts

    def _strongest_reading(self, text: str, acts: list[_Act], framing: dict, roles: dict) -> tuple | None:
        """``(score, act, targets, frames)`` of the act read as the strongest threat, or None."""
        quoted = quoted_spans(text)
        best = None
        for act in acts:
            targets = roles["target"] + self._marked_objects(text, act)
            specific = bool(roles["time"] or roles["means"] or roles["weapon"])
            if act.pattern is _EMOJI_ACT:
                if not targets:
                    continue
                score = THREAT_SCORE  # an emoji is never specific enough for takedown on its own
            elif targets or act.pattern.form in IMPLICIT_TARGET_FORMS:
                score = STRONG_SCORE if specific else THREAT_SCORE
            elif roles["time"] or roles["weapon"]:
                # Targets are open-ended (any person, place or event); a violent act in a
                # threatening form with a time or a weapon is a threat against something.
                score = THREAT_SCORE
            else:
                continue
            in_quotes = any(_inside((act.start, act.end), span) for span in quoted)
            frames = sorted(framing) + (["quotation"] if in_quotes else [])
            if frames:
                score = FRAMED_SCORE
            if best is None or score > best[0]:
                best = (score, act, targets, frames)
        return best

    def _finding(
        self, text: str, score: float, act: _Act, targets: list, frames: list[str], roles: dict, framing: dict
    ) -> Finding:
        evidence = {
            "language": act.pattern.language,
            "form": act.pattern.form,
            "act": _described(text, (act.start, act.end)),
            "target": [_described(text, span) for span in _first(targets, 3)],
            "time": [_described(text, span) for span in _first(roles["time"], 2)],
            "means": [_described(text, span) for span in _first(roles["means"] + roles["weapon"], 2)],
        }
        if frames:
            evidence["framing"] = frames
            evidence["framing_quotes"] = [
                _described(text, span) for kind in frames if kind in framing for span in framing[kind][:1]
            ]
        return Finding(self.name, CATEGORY, score, MappingProxyType(evidence))

    def _acts(self, text: str, patterns: frozenset[int] | None = None) -> list[_Act]:
        found = []
        for clause_start, clause in _clauses(text):
            folded = normalise(clause).text
            here = self.candidate(folded) if folded else frozenset()
            if patterns is not None:
                here &= patterns
            matches = [
                (self.grammar.acts[index], match)
                for index in sorted(here)
                for match in self.grammar.acts[index].regex.finditer(folded)
            ]
            if not matches:
                continue
            keyed = normalise(clause, with_offsets=True)
            for pattern, match in matches:
                start, end = match.span()
                while start < end and keyed.text[start] == " ":
                    start += 1
                if start >= end or (pattern.form != "intimidation" and self._negated(keyed.text, start, end)):
                    continue
                first, last = keyed.original_span(start, end)
                found.append(
                    _Act(pattern, clause_start + first, clause_start + last, clause_start, clause_start + len(clause))
                )
        return found

    def _negated(self, folded: str, start: int, end: int) -> bool:
        if self.grammar.negation is None:
            return False
        before = folded[:start].split()[-NEGATION_WINDOW_WORDS:]
        # A negation before "to"/"then" belongs to the condition ("chora na to ... jalegi").
        markers = [index for index, word in enumerate(before) if word in _CONSEQUENCE_WORDS]
        if markers:
            before = before[markers[-1] + 1 :]
        after = folded[end:].split()[:1]
        window = " ".join(before + [folded[start:end]] + after)
        return self.grammar.negation.search(window) is not None

    @staticmethod
    def _marked_objects(text: str, act: _Act) -> list[tuple[int, int]]:
        """``X ko`` / ``X کو`` just before the act: X is the target ("Ahmed ko maar denge")."""
        clause = text[act.clause_start : act.start]
        words = list(re.finditer(r"\S+", clause))[-OBJECT_WINDOW_WORDS - 1 :]
        for previous, word in zip(words, words[1:]):
            if normalise(word.group()).text in _OBJECT_MARKERS:
                return [(act.clause_start + previous.start(), act.clause_start + word.end())]
        return []


# Emoji that stand for a weapon; normalise() drops them, so they are read from the original.
_WEAPON_EMOJI = re.compile("[\U0001f52a\U0001f52b\U0001f4a3\U0001f5e1\u2694\U0001f9e8]")
# Words that mark a condition or an ultimatum, in any of the four languages.
_CONDITION = re.compile(
    r"(?<![^\W\d_])(?:if|unless|or else|otherwise|agar|agr|to|tou|toh|warna|varna|اگر|تو|ورنہ|که|کہ|نو|کنه|ګنې)(?![^\W\d_])",
    re.IGNORECASE,
)
_EMOJI_ACT = ActPattern("any", "conditional", re.compile("$^"), frozenset())
_NONE: frozenset[int] = frozenset()


# The word that opens the consequence of a condition: "agar ... tou", "که ... نو", "if ... then".
_CONSEQUENCE = re.compile(r"(?<!\S)(?:then|tou|toh|تو|نو)(?!\S)")
_CONSEQUENCE_ROMAN = re.compile(r"(?<!\S)(?:then|to|tou|toh|تو|نو)(?!\S)", re.IGNORECASE)
_CONSEQUENCE_WORDS = frozenset(
    normalise(word).text for word in ("then", "to", "tou", "toh", "warna", "تو", "نو", "ورنہ")
)


def _in_condition(text: str, span: tuple[int, int], acts: list[_Act]) -> bool:
    """Whether a consequence word stands between ``span`` and an act after it
    (Roman Urdu's "to" too, when the post is Roman Urdu: in English it is a preposition)."""
    consequence = _CONSEQUENCE_ROMAN if acts and guess_language(text) == "roman_ur" else _CONSEQUENCE
    return any(span[1] <= act.start and consequence.search(text, span[1], act.start) is not None for act in acts)


def _clauses(text: str):
    start = 0
    for separator in _CLAUSE_BREAK.finditer(text):
        if separator.start() > start:
            yield start, text[start : separator.start()]
        start = separator.end()
    if start < len(text):
        yield start, text[start:]
