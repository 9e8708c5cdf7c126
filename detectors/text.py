"""Text normalisation shared by the text detectors.

Matching runs on a normalised copy of the text; evidence quotes the original.
:func:`normalise` therefore returns, beside the normalised string, the offset
in the original text of every normalised character, so a match at
``normalised[i:j]`` is ``original[offsets[i]:offsets[j - 1] + 1]``.

This is the first cut (issue 2): Unicode NFKC and case folding, applied one
original character at a time so offsets stay exact. The detectors issue adds
the script-specific folds.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NormalisedText:
    original: str
    text: str
    offsets: tuple[int, ...]  # offsets[i] = index in original of text[i]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``original`` that produced ``text[start:end]``."""
        if start >= end:
            return (self.offsets[start] if start < len(self.offsets) else len(self.original),) * 2
        return self.offsets[start], self.offsets[end - 1] + 1

    def quote(self, start: int, end: int) -> str:
        first, last = self.original_span(start, end)
        return self.original[first:last]


def normalise(original: str) -> NormalisedText:
    characters: list[str] = []
    offsets: list[int] = []
    for index, character in enumerate(original):
        folded = unicodedata.normalize("NFKC", character).casefold()
        for piece in folded:
            characters.append(piece)
            offsets.append(index)
    return NormalisedText(original, "".join(characters), tuple(offsets))
