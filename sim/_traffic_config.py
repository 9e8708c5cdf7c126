"""The ``traffic`` section of sim/config.yaml: what a run's posts and reports are made of.

:func:`load_traffic_config` reads it into a :class:`TrafficConfig`, with the
platforms, designated organisations and watchlist of config/ (sim/__init__.py
loads them together, so every problem in every file is reported at once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from detectors.configfile import Document
from detectors.designation_lists import Organisation
from detectors.watchlist import WatchlistEntry

LANGUAGES = ("en", "roman_ur", "ur", "ps")
KINDS = ("violating", "reupload", "watchlisted", "news", "benign_image", "benign")
SHARED_KINDS = KINDS[:-1]  # configured; "benign" is the rest
_WHERE = ("traffic",)


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    platforms: tuple[str, ...]
    organisations: tuple[Organisation, ...]  # those with aliases in all four languages
    watchlist: tuple[WatchlistEntry, ...]
    seed: int = 20261129
    rate_posts_per_second: float = 20.0
    shares: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    block_posts: int = 100
    languages: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({language: 1.0 for language in LANGUAGES})
    )
    obfuscated_share: float = 0.4
    acronym_share: float = 0.3
    watchlisted_violating_share: float = 0.5
    banned_images: int = 4
    image_side_px: int = 640
    violating_reported_share: float = 0.3
    benign_reported_share: float = 0.01
    report_burst_share: float = 0.1
    report_burst_size: int = 6
    hash_bank_label: str = "sim-banned"

    def with_overrides(self, **changes) -> TrafficConfig:
        """A copy with the fields given; None leaves a field as configured (CLI options not given)."""
        return replace(self, **{name: value for name, value in changes.items() if value is not None})


def load_traffic_config(
    document: Document,
    platforms: Sequence[str],
    organisations: Sequence[Organisation],
    watchlist: Sequence[WatchlistEntry],
) -> TrafficConfig:
    """The ``traffic`` section of sim/config.yaml; problems go to the document."""
    document.mapping(_WHERE, required=True)

    def number(name: str, default: float, minimum: float, maximum: float | None = None) -> float:
        return document.number(_WHERE + (name,), default=default, minimum=minimum, maximum=maximum)

    def report_number(name: str, default: float, minimum: float, maximum: float) -> float:
        return document.number(_WHERE + ("reports", name), default=default, minimum=minimum, maximum=maximum)

    # Problems are reported in the order found: the sections first, then the numbers.
    shares = _shares(document)
    languages = _languages(document)
    eligible = _eligible_organisations(document, organisations)
    label = document.text(_WHERE + ("hash_bank_label",), default="sim-banned")
    return TrafficConfig(
        platforms=tuple(platforms),
        organisations=eligible,
        watchlist=tuple(watchlist),
        seed=int(number("seed", 20261129, 0)),
        rate_posts_per_second=number("rate_posts_per_second", 20.0, 1e-3),
        shares=MappingProxyType(shares),
        block_posts=int(number("block_posts", 100, 1, 100_000)),
        languages=MappingProxyType(languages or {language: 1.0 for language in LANGUAGES}),
        obfuscated_share=number("obfuscated_share", 0.4, 0.0, 1.0),
        acronym_share=number("acronym_share", 0.3, 0.0, 1.0),
        watchlisted_violating_share=number("watchlisted_violating_share", 0.5, 0.0, 1.0),
        banned_images=int(number("banned_images", 4, 1, 1000)),
        # 512: PDQ downsamples to 64 x 64; smaller originals lose the detail re-uploads keep.
        image_side_px=int(number("image_side_px", 640, 512, 4096)),
        violating_reported_share=report_number("violating_reported_share", 0.3, 0.0, 1.0),
        benign_reported_share=report_number("benign_reported_share", 0.01, 0.0, 1.0),
        report_burst_share=report_number("burst_share", 0.1, 0.0, 1.0),
        report_burst_size=int(report_number("burst_size", 6, 2, 100)),
        hash_bank_label=label,
    )


def _shares(document: Document) -> dict[str, float]:
    shares = {}
    for kind, _ in document.mapping(_WHERE + ("shares",), required=True).items():
        if kind not in SHARED_KINDS:
            document.problem(_WHERE + ("shares", kind), f"{kind!r} is not one of {', '.join(SHARED_KINDS)}")
            continue
        shares[kind] = document.number(_WHERE + ("shares", kind), default=0.0, minimum=0.0, maximum=1.0)
    if sum(shares.values()) > 1.0 + 1e-9:
        document.problem(_WHERE + ("shares",), f"add up to {sum(shares.values()):.3f}; at most 1 (the rest is benign)")
    return shares


def _languages(document: Document) -> dict[str, float]:
    languages = {}
    for language, _ in document.mapping(_WHERE + ("languages",)).items():
        if language not in LANGUAGES:
            document.problem(_WHERE + ("languages", language), f"{language!r} is not one of {', '.join(LANGUAGES)}")
            continue
        languages[language] = document.number(_WHERE + ("languages", language), default=0.0, minimum=0.0)
    if languages and not any(languages.values()):
        document.problem(_WHERE + ("languages",), "needs at least one language with a weight above 0")
    return languages


def _eligible_organisations(document: Document, organisations: Sequence[Organisation]) -> tuple[Organisation, ...]:
    """Those with aliases in all four languages: a post in any language can name them."""
    eligible = tuple(
        organisation
        for organisation in organisations
        if {language for language, _ in organisation.aliases} >= set(LANGUAGES)
    )
    if not eligible:
        document.problem(_WHERE, "config/designations.yaml has no organisation with aliases in en, roman_ur, ur and ps")
    return eligible
