"""A finding in words, for the documents a takedown request produces.

A finding (``detector``, ``category``, ``score``, ``evidence``) is described
in two kinds of document, and :func:`describe_finding` words both, one phrase
per fact: who found what and how sure, then the list entries it matched
(designations or organisations), then what matched in the post, then the hash
or model match.

- The **notice** to the platform (``public=False``: the outbox page and the
  email of streams/delivery, which only the platform reads) quotes what
  matched in the post, since that is what the platform has to find. Each
  phrase reads as a line of its own: ``designated_organisation: terrorism
  promotion (score 0.90)``, ``Designated under UN 1267 QDe.132``, ``cue:
  “Long live”``.
- The **published** documents (``public=True``: the DSA statement of reasons
  and the Lumen notice of takedowns/exports) hold no personal data, so they
  name the cue kinds but never quote the post, and their callers leave out
  findings about the author (:func:`is_about_the_author`). The phrases are
  clauses of one sentence (``designated_organisation found terrorism
  promotion (score 0.90); designated under …``); a matched label is quoted,
  since it is free text from a hash list or a model, and a hash match at
  distance 0 is just a match.

A finding about the author (a watchlist match) says only that the account is
watched: whom the authority watches, and why, stays with the authority.
:func:`published_findings` joins a request's content findings for a
published document, and :func:`category_labels` names its categories there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

WATCHLIST_PHRASE = "The account is on the authority's watchlist."


def category_label(value: Any) -> str:
    """A category (or a cue kind) in words: ``terrorism_promotion`` is ``terrorism promotion``."""
    return str(value if value not in (None, "") else "unknown").replace("_", " ")


def category_labels(categories: Iterable[Any]) -> str:
    """The categories in words, as a sentence: ``hate, abuse and violent threat``."""
    labels = [category_label(category) for category in categories]
    return " and ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels) or "unlawful content"


def finding_details(finding: Mapping[str, Any]) -> Mapping[str, Any]:
    """The finding's ``evidence`` mapping; empty when it has none (or something else stands there)."""
    details = finding.get("evidence") or {}
    return details if isinstance(details, Mapping) else {}


def is_about_the_author(finding: Mapping[str, Any]) -> bool:
    """A watchlist match: the finding is about who posted, not about what the post says."""
    return finding.get("category") == "watchlisted_account" or bool(finding_details(finding).get("matched_on"))


def describe_finding(finding: Mapping[str, Any], *, public: bool) -> list[str]:
    """The finding as phrases, for the platform's notice (``public=False``) or a published document."""
    details = finding_details(finding)
    phrases = [_headline(finding, public)]
    if is_about_the_author(finding):
        phrases.append(WATCHLIST_PHRASE)
        return phrases
    listed = _listed_under(details)
    if listed:
        phrases.append(listed if public else _capitalised(listed))
    phrases.extend(_cue_kinds(details) if public else _quotes(details))
    matched = _hash_match(details, public) or _model_match(details, public)
    if matched:
        phrases.append(matched)
    return phrases


def _headline(finding: Mapping[str, Any], public: bool) -> str:
    detector = finding.get("detector") or "unnamed detector"
    headline = f"{detector}{' found ' if public else ': '}{category_label(finding.get('category'))}"
    score = finding.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):  # a flag is not a score
        headline += f" (score {score:.2f})"
    return headline


def _capitalised(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def _listed_under(details: Mapping[str, Any]) -> str | None:
    if details.get("designations"):
        return "designated under " + ", ".join(map(str, details["designations"]))
    if details.get("organisations"):
        return "listed organisations " + ", ".join(map(str, details["organisations"]))
    return None


def _quotes(details: Mapping[str, Any]) -> list[str]:
    """What matched in the post, quoted: for the platform, which has to find it."""
    return [
        f"{category_label(item.get('kind') or group)}: “{item['quote']}”"
        for group in ("mentions", "cues")
        for item in details.get(group) or []
        if isinstance(item, Mapping) and item.get("quote")
    ]


def _cue_kinds(details: Mapping[str, Any]) -> list[str]:
    """The kinds of cue that matched, never their text: for a published document."""
    kinds = sorted(
        {str(cue["kind"]) for cue in details.get("cues") or [] if isinstance(cue, Mapping) and cue.get("kind")}
    )
    return ["cues: " + ", ".join(kinds)] if kinds else []


def _hash_match(details: Mapping[str, Any], public: bool) -> str | None:
    if not details.get("hash_type"):
        return None
    match = f"{details['hash_type']} hash match"
    distance = details.get("distance")
    if distance is not None and (distance or not public):
        match += f" at distance {distance}"
    if details.get("label"):
        match += f" to {_matched_label(details['label'], public)}"
    if details.get("source"):
        match += f" from {details['source']}"
    return match


def _model_match(details: Mapping[str, Any], public: bool) -> str | None:
    if not details.get("model"):
        return None
    labelled = f" labelled it {_matched_label(details['label'], public)}" if details.get("label") else ""
    match = f"model {details['model']}{labelled}"
    return match if public else _capitalised(match)


def _matched_label(label: Any, public: bool) -> str:
    return repr(label) if public else str(label)


def published_findings(evidence: Iterable[Mapping[str, Any]]) -> str:
    """The content findings for a published document, one after another. Findings about the author
    (a watchlist match) are left out: whom an authority watches is personal data."""
    return " | ".join(
        "; ".join(describe_finding(finding, public=True)) for finding in evidence if not is_about_the_author(finding)
    )


def quotes(evidence: Any) -> list[str]:
    """Every ``quote`` anywhere in a finding's evidence (the spans of the post it rests on), in order."""
    if isinstance(evidence, Mapping):
        found = [evidence["quote"]] if isinstance(evidence.get("quote"), str) else []
        return found + [quote for value in evidence.values() for quote in quotes(value)]
    if isinstance(evidence, list):
        return [quote for value in evidence for quote in quotes(value)]
    return []
