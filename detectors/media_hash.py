"""The media hash detector: posts' images and videos against the hash bank.

A post's image matches a bank entry (:mod:`detectors.hashbank`) when:

* its MD5 or SHA-256 equals the entry's (a dict lookup), or
* its PDQ hash is within ``match_radius`` bits of the entry's (Hamming
  distance, searched by :mod:`detectors.pdq_index`), and its PDQ quality is
  at least ``min_quality``.

``config/hashing.yaml`` sets the radius, the quality floor, the image limits
and which category each bank label's findings fall in
(:func:`load_hashing_config`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

from PIL import Image

from detectors.bank_cache import load_bank_cached
from detectors.base import Finding
from detectors.configfile import ANY_KEY, VALUE, Document, Problems, load_yaml, optional_file
from detectors.events import InvalidEvent, Post
from detectors.hashbank import BankEntry, HashBank
from detectors.hashing import (
    JPEG_DRAFT_SIDE,
    MAX_IMAGE_PIXELS,
    PDQ_CONFIDENT_MATCH_THRESHOLD,
    PDQ_MIN_QUALITY,
    UNLETTERBOX_TOLERANCE,
    ImageHasher,
    PDQHash,
    UnreadableImage,
    normalise_hash,
)

DEFAULT_CATEGORY = "terrorism_promotion"

# -- Configuration ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HashingConfig:
    """config/hashing.yaml; every default is the named constant it cites."""

    match_radius: int = PDQ_CONFIDENT_MATCH_THRESHOLD
    min_quality: int = PDQ_MIN_QUALITY
    match_rotations: bool = True
    unletterbox_tolerance: int | None = UNLETTERBOX_TOLERANCE
    max_pixels: int = MAX_IMAGE_PIXELS
    jpeg_draft_side: int | None = JPEG_DRAFT_SIDE
    default_category: str = DEFAULT_CATEGORY
    label_categories: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def category_of(self, entry: BankEntry) -> str:
        return self.label_categories.get(entry.label, self.default_category)


HASHING_SCHEMA = {
    "pdq": dict.fromkeys(
        ("match_radius", "min_quality", "match_rotations", "unletterbox", "unletterbox_tolerance"), VALUE
    ),
    "images": {"max_pixels": VALUE, "jpeg_draft_side": VALUE},
    "categories": {"default": VALUE, "by_label": {ANY_KEY: VALUE}},
}


def load_hashing_config(path: Path, problems: Problems, categories: frozenset[str] | None = None) -> HashingConfig:
    """Read config/hashing.yaml (a missing file means the defaults).

    ``categories``, when given (the policy's), is what every category named
    here must be one of: a misspelt category would be recorded and never acted on.
    """
    if not optional_file(path, "media hash matching uses its defaults"):
        return HashingConfig()
    document = load_yaml(path, problems)
    document.check_keys(HASHING_SCHEMA)
    defaults = HashingConfig()
    document.mapping(("pdq",))
    document.mapping(("images",))
    document.mapping(("categories",))
    tolerance = _unletterbox_tolerance(document, defaults)
    default_category, label_categories = _categories(document, categories)
    return HashingConfig(
        match_radius=_whole_number(document, ("pdq", "match_radius"), defaults.match_radius, 0, 128),
        min_quality=_whole_number(document, ("pdq", "min_quality"), defaults.min_quality, 0, 100),
        match_rotations=_flag(document, ("pdq", "match_rotations"), defaults.match_rotations),
        unletterbox_tolerance=tolerance,
        # Pillow refuses images above twice its own limit before we can look at them.
        max_pixels=_whole_number(
            document, ("images", "max_pixels"), defaults.max_pixels, 1, 2 * Image.MAX_IMAGE_PIXELS
        ),
        jpeg_draft_side=_whole_number(document, ("images", "jpeg_draft_side"), JPEG_DRAFT_SIDE, 0, 1 << 16) or None,
        default_category=default_category,
        label_categories=MappingProxyType(label_categories),
    )


def _whole_number(document: Document, where: tuple, default: int, minimum: int, maximum: int) -> int:
    value = document.number(where, default=default, minimum=minimum, maximum=maximum)
    if value != int(value):
        document.problem(where, f"must be a whole number, not {document.get(where)!r}")
        return default
    return int(value)


def _flag(document: Document, where: tuple, default: bool) -> bool:
    value = document.get(where)
    if value is None:
        return default
    if not isinstance(value, bool):
        document.problem(where, f"must be true or false, not {value!r}")
        return default
    return value


def _unletterbox_tolerance(document: Document, defaults: HashingConfig) -> int | None:
    """``unletterbox: false`` switches trimming off (None); else the tolerance, default or set."""
    if document.get(("pdq", "unletterbox")) is not None and not _flag(document, ("pdq", "unletterbox"), True):
        return None
    if document.get(("pdq", "unletterbox_tolerance")) is not None:
        return _whole_number(document, ("pdq", "unletterbox_tolerance"), UNLETTERBOX_TOLERANCE, 0, 255)
    return defaults.unletterbox_tolerance


def _categories(document: Document, categories: frozenset[str] | None) -> tuple[str, dict[str, str]]:
    """The default category and the category of each label, checked against the policy's ``categories``."""
    default_category = document.text(("categories", "default"), default=DEFAULT_CATEGORY) or DEFAULT_CATEGORY
    label_categories = {}
    for label, category in document.mapping(("categories", "by_label")).items():
        where = ("categories", "by_label", label)
        if not isinstance(category, str) or not category.strip():
            document.problem(where, f"must be a category name, not {category!r}")
            continue
        label_categories[label] = category.strip()
    if categories is not None:
        if default_category not in categories:
            document.problem(("categories", "default"), f"{default_category!r} is not a category in config/policy.yaml")
        for label, category in label_categories.items():
            if category not in categories:
                document.problem(
                    ("categories", "by_label", label), f"{category!r} is not a category in config/policy.yaml"
                )
    return default_category, label_categories


# -- Detector -----------------------------------------------------------------


def _valid(hash_type: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalise_hash(hash_type, value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Match:
    entry: BankEntry
    media_hash: str
    distance: int
    quality: int | None
    transform: str | None
    unletterboxed: bool

    def rank(self) -> tuple:
        # Nearest first; exact file hashes before PDQ; the image as posted before its rotations.
        rotated = self.transform not in (None, "original")
        return (self.distance, self.entry.hash_type == "pdq", rotated, self.unletterboxed, self.entry.label)


class MediaHashDetector:
    """Matches each post's images against the hash bank.

    For each media item: its MD5 and SHA-256 (computed from ``data`` when the
    post carries the image, else as the producer sent them) are looked up
    exactly, and its PDQ hashes (computed from ``data``, else the producer's
    ``pdq``) are searched within ``match_radius``. When the post carries the
    image, the producer's ``pdq`` is ignored (hashes modwatch computed are the
    evidence) and its MD5/SHA-256 must agree with the bytes (:meth:`validate`).
    Computed PDQ hashes below ``min_quality`` are not searched and leave no
    finding, only a count in ``last_counts["low_quality"]``; a producer's
    ``pdq`` has no quality and is trusted. Videos match on MD5/SHA-256 only.

    One finding per media item and category: the nearest match, with the
    number of bank entries that matched. Score is 1.0 for an exact file hash
    and ``1 - distance / 256`` (the fraction of PDQ bits that agree) for PDQ:
    at the default radius of 31 that is at least 0.879, above the policy's
    takedown threshold of 0.8, as a confirmed hash match should be.
    """

    name: ClassVar[str] = "media_hash"

    def __init__(self, bank: HashBank, config: HashingConfig = HashingConfig()):
        self.bank = bank
        self.config = config
        self.hasher = ImageHasher(
            max_pixels=config.max_pixels,
            unletterbox_tolerance=config.unletterbox_tolerance,
            dihedral=config.match_rotations,
            jpeg_draft_side=config.jpeg_draft_side,
        )
        # Counts from the last detect() call, for the stream shell's metrics.
        self.last_counts = {"images_hashed": 0, "unreadable": 0, "low_quality": 0}

    @classmethod
    def from_config(
        cls,
        config_dir: Path,
        problems: Problems,
        categories: frozenset[str] | None = None,
        bank_cache_dir: Path | None = None,
    ) -> MediaHashDetector:
        """``bank_cache_dir``: where the packed bank is kept between starts (detectors/bank_cache.py)."""
        config = load_hashing_config(config_dir / "hashing.yaml", problems, categories)
        return cls(load_bank_cached(config_dir / "hashbank", problems, bank_cache_dir), config)

    def validate(self, post: Post) -> None:
        """Raise :class:`InvalidEvent` for an image that cannot be hashed, or whose hashes contradict it.

        Call it after parsing and before :meth:`detect`: the hashes are kept,
        so detection does not decode the image again.
        """
        for index, media in enumerate(post.media):
            if media.data is None:
                continue
            try:
                hashes = self.hasher.hash_bytes(media.data)
            except UnreadableImage as error:
                raise InvalidEvent(error.reason, f"media[{index}].data_b64", error.message) from None
            for name in ("md5", "sha256"):
                claimed, actual = getattr(media, name), getattr(hashes, name)
                if claimed is not None and claimed != actual:
                    raise InvalidEvent(
                        "invalid_value",
                        f"media[{index}].{name}",
                        f"{claimed!r} is not the {name} of data_b64 ({actual!r})",
                    )

    def detect(self, posts: Sequence[Post]) -> list[list[Finding]]:
        counts = {"images_hashed": 0, "unreadable": 0, "low_quality": 0}
        self.last_counts = counts
        if len(self.bank) == 0:
            return [[] for _ in posts]
        matches: dict[tuple[int, int], list[_Match]] = {}
        queries: list[tuple[tuple[int, int], PDQHash]] = []
        for post_index, post in enumerate(posts):
            for media_index, media in enumerate(post.media):
                key = (post_index, media_index)
                exact, pdq = self._media_hashes(media, counts)
                for hash_type, value, quality in exact:
                    for entry in self.bank.exact(hash_type, value):
                        matches.setdefault(key, []).append(_Match(entry, value, 0, quality, None, False))
                queries.extend((key, hash) for hash in pdq)
        if queries:
            found = self.bank.near([hash.hash for _, hash in queries], self.config.match_radius)
            for (key, hash), near in zip(queries, found):
                for entry, distance in near:
                    matches.setdefault(key, []).append(
                        _Match(entry, hash.hash, distance, hash.quality, hash.transform, hash.unletterboxed)
                    )
        findings: list[list[Finding]] = [[] for _ in posts]
        for (post_index, media_index), media_matches in sorted(matches.items()):
            by_category: dict[str, list[_Match]] = {}
            for match in media_matches:
                by_category.setdefault(self.config.category_of(match.entry), []).append(match)
            for category, category_matches in by_category.items():
                findings[post_index].append(self._finding(media_index, category, category_matches))
        return findings

    def post_hashes(self, post: Post) -> list[dict]:
        """The hashes of a post's media worth adding to the bank if the post is confirmed.

        Exact hashes, and the PDQ hash of each image as posted (the original
        orientation, untrimmed) when its quality is good enough to match on.
        """
        found = []
        counts = {"images_hashed": 0, "unreadable": 0, "low_quality": 0}
        for media in post.media:
            exact, pdq = self._media_hashes(media, counts)
            found += [{"hash_type": hash_type, "hash": value} for hash_type, value, _ in exact]
            found += [
                {"hash_type": "pdq", "hash": hash.hash}
                for hash in pdq
                if hash.transform == "original" and not hash.unletterboxed
            ]
        return found

    def _media_hashes(self, media, counts: dict[str, int]) -> tuple[list[tuple[str, str, int | None]], list[PDQHash]]:
        """Exact hashes ``(type, hex, quality)`` and the PDQ hashes worth searching, for one media item."""
        if media.data is not None:
            try:
                hashes = self.hasher.hash_bytes(media.data)
            except UnreadableImage:
                counts["unreadable"] += 1  # validate() rejects these; detect() must not raise
                return [], []
            counts["images_hashed"] += 1
            usable = [hash for hash in hashes.pdq if hash.quality >= self.config.min_quality]
            if hashes.pdq and not usable:
                counts["low_quality"] += 1
            exact = [("md5", hashes.md5, hashes.quality), ("sha256", hashes.sha256, hashes.quality)]
            return exact, usable
        # The parser has checked these; a Post built elsewhere may not have been.
        exact = [(name, value, None) for name in ("md5", "sha256") if (value := _valid(name, getattr(media, name)))]
        pdq = _valid("pdq", media.pdq) if media.kind == "image" else None
        return exact, [PDQHash(pdq, None, "original", False)] if pdq else []

    def _finding(self, media_index: int, category: str, matches: list[_Match]) -> Finding:
        best = min(matches, key=_Match.rank)
        exact = best.entry.hash_type != "pdq"
        evidence = {
            "media_index": media_index,
            "hash_type": best.entry.hash_type,
            "hash": best.entry.hash,
            "media_hash": best.media_hash,
            "distance": best.distance,
            "quality": best.quality,
            "label": best.entry.label,
            "source": best.entry.source,
            "matches": len({(match.entry.hash_type, match.entry.hash, match.entry.label) for match in matches}),
            "bank_digest": self.bank.digest,
        }
        if not exact:
            evidence.update(
                transform=best.transform, unletterboxed=best.unletterboxed, match_radius=self.config.match_radius
            )
        score = 1.0 if exact else 1.0 - best.distance / 256
        return Finding(self.name, category, score, MappingProxyType(evidence))

    def lookup(self, hash_type: str, value: str) -> list[dict]:
        """What the bank holds for one hash: exact for MD5 and SHA-256, within ``match_radius`` for PDQ.

        Nearest first, each with its category as a post's finding would have
        it. Raises ``ValueError`` naming the field for a hash that is not one.
        """
        if hash_type not in ("pdq", "md5", "sha256"):
            raise ValueError(f"hash_type: {hash_type!r} is not one of pdq, md5, sha256")
        value = _valid(hash_type, value)
        if value is None:
            raise ValueError(f"hash: not a valid {hash_type} hash")
        if hash_type == "pdq":
            found = [
                _Match(entry, value, d, None, "original", False)
                for entry, d in self.bank.near([value], self.config.match_radius)[0]
            ]
        else:
            found = [_Match(entry, value, 0, None, None, False) for entry in self.bank.exact(hash_type, value)]
        return self._answer(found)

    def lookup_image(self, data: bytes) -> list[dict]:
        """What the bank holds for an image, as a post carrying it would be matched (rotations and
        trimmed borders included); raises :class:`UnreadableImage` for bytes that are not an image."""
        hashes = self.hasher.hash_bytes(data)
        found = [
            _Match(entry, value, 0, hashes.quality, None, False)
            for hash_type, value in (("md5", hashes.md5), ("sha256", hashes.sha256))
            for entry in self.bank.exact(hash_type, value)
        ]
        usable = [hash for hash in hashes.pdq if hash.quality >= self.config.min_quality]
        if usable:
            near = self.bank.near([hash.hash for hash in usable], self.config.match_radius)
            for hash, entries in zip(usable, near, strict=True):
                found += [_Match(e, hash.hash, d, hash.quality, hash.transform, hash.unletterboxed) for e, d in entries]
        return self._answer(found)

    def _answer(self, found: list[_Match]) -> list[dict]:
        best: dict[tuple, _Match] = {}
        for match in sorted(found, key=_Match.rank):
            best.setdefault((match.entry.hash_type, match.entry.hash, match.entry.label), match)
        return [
            {
                "hash_type": match.entry.hash_type,
                "hash": match.entry.hash,
                "label": match.entry.label,
                "source": match.entry.source,
                "category": self.config.category_of(match.entry),
                "distance": match.distance,
                "media_hash": match.media_hash,
                "transform": match.transform,
            }
            for match in best.values()
        ]
