"""Spans of a post's original text: found on folded text, quoted back in evidence."""

from __future__ import annotations

import re

from detectors.text import NormalisedText


def spans(regex: re.Pattern, post: NormalisedText) -> list[tuple[int, int]]:
    """Where ``regex`` matches the folded post, as spans of the original text (empty matches left out)."""
    return [post.original_span(*match.span()) for match in regex.finditer(post.text) if match.end() > match.start()]


def inside(inner: tuple[int, int], outer: tuple[int, int]) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def first(found: list[tuple[int, int]], count: int) -> list[tuple[int, int]]:
    """The first ``count`` distinct spans, in text order."""
    return sorted(set(found))[:count]


def described(text: str, span: tuple[int, int]) -> dict:
    """A span as evidence: its quote and offsets in the original text."""
    return {"quote": text[span[0] : span[1]], "start": span[0], "end": span[1]}
