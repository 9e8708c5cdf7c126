"""What every detector takes and gives.

A detector takes a batch of posts and returns, for each post in the same order,
the list of findings about it; an empty list means nothing was found. Batches
let the classifier vectorise many posts at once and let the stream shell call
each detector once per ``stream.take`` window instead of once per post.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from detectors.events import Post


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector's claim about one post.

    ``score`` is in [0, 1]; ``evidence`` says what matched, where in the
    original text, and which list entry or model said so: a reviewer and a
    platform must be able to check it without rerunning modwatch.
    """

    detector: str
    category: str
    score: float
    evidence: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "category": self.category,
            "score": round(self.score, 4),
            "evidence": dict(self.evidence),
        }


class Detector(Protocol):
    name: ClassVar[str]

    def detect(self, posts: Sequence[Post]) -> list[list[Finding]]:
        """One list of findings per post, in the order of ``posts``."""
        ...
