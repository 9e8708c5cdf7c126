"""The detector pipeline, built from the operator's config folder.

``Pipeline.from_config_dir`` validates every file it reads and raises one
:class:`~detectors.configfile.ConfigError` listing every problem. ``scan``
runs each detector once over a batch and applies the policy; the stream shell
and ``modwatch scan`` both call it, so a file and a topic get the same
decisions.

Platforms and jurisdictions are read here because detection needs them (a
national designation list applies to its own jurisdiction's platforms); the
requests built from a decision (legal basis, deadline, ids) are the takedown
core's: takedowns/requests.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from detectors.base import Detector, Finding
from detectors.configfile import ANY_KEY, VALUE, Problems, Section, load_yaml
from detectors.designations import DesignatedOrganisationDetector
from detectors.events import EventParser, Post
from detectors.extremism_model import ExtremismModelDetector
from detectors.media_hash import MediaHashDetector
from detectors.policy import SEVERITIES, Decision, Policy
from detectors.review_context import review_context
from detectors.text_classifier import TextClassifierDetector
from detectors.threats import ViolentThreatDetector
from detectors.watchlist import WatchlistDetector


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    code: str
    name: str
    legal_basis: str
    citation: str
    deadline: timedelta
    categories: frozenset[str]
    category_deadlines: dict[str, timedelta]
    emergency_deadline: timedelta | None
    emergency_severities: frozenset[str]

    def deadline_for(self, categories: list[str], severity: str) -> timedelta:
        """The emergency deadline for emergency severities, else the deadline of the request's
        first category (the one that earned its action), else the jurisdiction's default."""
        if self.emergency_deadline is not None and severity in self.emergency_severities:
            return self.emergency_deadline
        if categories and categories[0] in self.category_deadlines:
            return self.category_deadlines[categories[0]]
        return self.deadline


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    display_name: str
    jurisdiction: str


# `delivery` is read and checked by streams/delivery/, `recheck` by streams/poller.py.
PLATFORMS_SCHEMA = {
    "platforms": {
        ANY_KEY: Section("platform", {"name": VALUE, "jurisdiction": VALUE, "delivery": VALUE, "recheck": VALUE})
    },
}

JURISDICTIONS_SCHEMA = {
    "default": VALUE,
    "jurisdictions": {
        ANY_KEY: Section(
            "jurisdiction",
            {
                "name": VALUE,
                "legal_basis": VALUE,
                "citation": VALUE,
                "deadline_hours": VALUE,
                "category_deadline_hours": {ANY_KEY: VALUE},
                "emergency": {"deadline_hours": VALUE, "severities": [VALUE]},
                "categories": [VALUE],
            },
        ),
    },
}


def load_platforms(path: Path, problems: Problems, jurisdiction_codes: set[str], default: str) -> dict[str, Platform]:
    document = load_yaml(path, problems)
    document.check_keys(PLATFORMS_SCHEMA)
    platforms = {}
    for name, _ in document.mapping(("platforms",), required=True).items():
        where = ("platforms", name)
        if ":" in name or not name.strip():
            document.problem(where, f"{name!r} is not a usable platform name (no colons, not empty)")
            continue
        document.mapping(where)
        jurisdiction = document.text(where + ("jurisdiction",), default=default)
        if jurisdiction not in jurisdiction_codes:
            document.problem(where + ("jurisdiction",), f"{jurisdiction!r} is not in jurisdictions.yaml")
        platforms[name] = Platform(name, document.text(where + ("name",), default=name), jurisdiction)
    return platforms


def load_jurisdictions(path: Path, problems: Problems) -> tuple[dict[str, Jurisdiction], str]:
    document = load_yaml(path, problems)
    document.check_keys(JURISDICTIONS_SCHEMA)
    jurisdictions = {}
    for code, _ in document.mapping(("jurisdictions",), required=True).items():
        where = ("jurisdictions", code)
        document.mapping(where, required=True)
        hours = document.number(where + ("deadline_hours",), default=48, minimum=0.0001)  # tests use seconds
        if document.get(where + ("deadline_hours",)) is None:
            document.problem(where + ("deadline_hours",), "is required")
        category_deadlines = {
            category: timedelta(
                hours=document.number(where + ("category_deadline_hours", category), default=48, minimum=0.0001)
            )
            for category in document.mapping(where + ("category_deadline_hours",))
        }
        emergency_hours = document.get(where + ("emergency", "deadline_hours"))
        emergency_severities = frozenset(
            document.choice(where + ("emergency", "severities", index), set(SEVERITIES), default="critical")
            for index, _ in enumerate(document.sequence(where + ("emergency", "severities")))
        )
        jurisdictions[code] = Jurisdiction(
            category_deadlines=category_deadlines,
            emergency_deadline=(
                timedelta(hours=document.number(where + ("emergency", "deadline_hours"), default=1, minimum=0.0001))
                if emergency_hours is not None
                else None
            ),
            emergency_severities=emergency_severities,
            code=code,
            name=document.text(where + ("name",), required=True),
            legal_basis=document.text(where + ("legal_basis",), required=True),
            citation=document.text(where + ("citation",), required=True),
            deadline=timedelta(hours=hours),
            categories=frozenset(
                document.text(where + ("categories", index), required=True)
                for index, _ in enumerate(document.sequence(where + ("categories",), required=True))
            ),
        )
    default = document.text(("default",), required=True)
    if default and default not in jurisdictions:
        document.problem(("default",), f"{default!r} is not one of the jurisdictions listed")
    return jurisdictions, default


class Pipeline:
    def __init__(
        self,
        detectors: Sequence[Detector],
        policy: Policy,
        platforms: dict[str, Platform],
        jurisdictions: dict[str, Jurisdiction],
    ):
        self.detectors = tuple(detectors)
        self.policy = policy
        self.platforms = platforms
        self.jurisdictions = jurisdictions
        self.parser = EventParser(frozenset(platforms))
        self.media = next((detector for detector in self.detectors if isinstance(detector, MediaHashDetector)), None)
        self.watchlist = next(
            (detector for detector in self.detectors if isinstance(detector, WatchlistDetector)), None
        )
        self.last_durations: dict[str, float] = {}

    @classmethod
    def from_config_dir(cls, config_dir: Path, *, bank_cache_dir: Path | None = None) -> Pipeline:
        """``bank_cache_dir``: where the worker keeps its packed hash bank between starts (None: not kept)."""
        config_dir = Path(config_dir)
        problems = Problems()
        jurisdictions, default = load_jurisdictions(config_dir / "jurisdictions.yaml", problems)
        platforms = load_platforms(config_dir / "platforms.yaml", problems, set(jurisdictions), default)
        policy = Policy.from_config(config_dir / "policy.yaml", problems)
        platform_jurisdictions = {name: platform.jurisdiction for name, platform in platforms.items()}
        threats = ViolentThreatDetector.from_config(config_dir, problems)
        detectors = [
            DesignatedOrganisationDetector.from_config(config_dir, problems, platform_jurisdictions),
            threats,
            # After the threat detector: its signals of the batch open the model's gate.
            ExtremismModelDetector.from_config(config_dir, problems, threats),
            WatchlistDetector.from_config(config_dir, problems, frozenset(platforms)),
            TextClassifierDetector.from_config(config_dir, problems),
            # An unreadable policy.yaml is already reported: then no category check here.
            MediaHashDetector.from_config(
                config_dir, problems, frozenset(policy.categories) or None, bank_cache_dir=bank_cache_dir
            ),
        ]
        problems.raise_if_any()
        return cls(detectors, policy, platforms, jurisdictions)

    def scan(self, posts: Sequence[Post]) -> list[Decision]:
        findings: list[list[Finding]] = [[] for _ in posts]
        durations = {}
        for detector in self.detectors:
            started = time.perf_counter()
            # A detector that reads only what the ones before it left (the extremism model)
            # is shown their findings.
            earlier = {"earlier": findings} if getattr(detector, "reads_earlier_findings", False) else {}
            for index, found in enumerate(detector.detect(posts, **earlier)):
                findings[index].extend(found)
            durations[detector.name] = time.perf_counter() - started
        self.last_durations = durations
        return [self.policy.decide(post, found) for post, found in zip(posts, findings)]

    def parse_post(
        self, raw: bytes | str, key: bytes | str | None = None, *, keyed: bool = False, images: bool = True
    ) -> Post:
        """Parse and validate a post, including its images (undecodable, bombs, contradicted hashes).

        ``keyed``: ``raw`` is a Kafka record's value and ``key`` its key, which must be the post's.
        ``images=False`` leaves the images to :meth:`check_images`: the scan agent hashes a
        batch's images in other processes first (:meth:`prefetch_images`).
        """
        post = self.parser.record("post", key, raw) if keyed else self.parser.post(raw)
        if images:
            self.check_images(post)
        return post

    def check_images(self, post: Post) -> None:
        """Raise InvalidEvent for an image of ``post`` that cannot be hashed or contradicts its hashes."""
        if self.media is not None and post.media:
            self.media.validate(post)

    def prefetch_images(self, posts: Sequence[Post], executor) -> int:
        """Hash the images of ``posts`` on ``executor`` (a process pool) into the hasher's cache;
        :meth:`check_images` and detection then find them hashed. Returns how many were hashed."""
        if self.media is None:
            return 0
        images = [media.data for post in posts for media in post.media if media.data is not None]
        return self.media.hasher.prefetch(images, executor) if images else 0

    def warm_image_pool(self, executor) -> int:
        """Start ``executor``'s processes before the first image needs them (ImageHasher.warm)."""
        return self.media.hasher.warm(executor) if self.media is not None else 0

    def flagged(self, decision: Decision) -> dict:
        """A decision as a plain record: what travels between the scan and publish stages."""
        post = decision.post
        flagged = decision.as_dict()
        flagged.update(
            account_id=post.account_id,
            url=post.url,
            posted_at=post.posted_at.isoformat(),
            # What joins the hash bank if the request is confirmed (re-upload loop).
            media_hashes=self.media.post_hashes(post) if self.media is not None and post.media else [],
            # For the reviewer only: kept in the item's state, never sent (detectors/review_context.py).
            post=review_context(post),
        )
        return flagged
