"""What a traffic run really contains: the ground truth modwatch's decisions are scored against.

:class:`sim.traffic.Traffic` fills a :class:`GroundTruth` as it makes each
run: one :class:`PostTruth` per post (its kind, whether it is violating and
why, what modwatch should do about it, which banned image a re-upload
copies), one :class:`ReportTruth` per user report, and the banned originals
whose hashes seed the hash bank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BannedImage:
    image_id: str
    pdq: str
    quality: int
    md5: str
    sha256: str
    png: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PostTruth:
    platform: str
    post_id: str
    kind: str  # one of sim._traffic_config.KINDS
    language: str
    violating: bool
    expected_action: str  # takedown | none
    account_id: str
    template: str | None = None  # "promotion:en:2", "news:ps:1", ...
    organisation: str | None = None
    name: str | None = None  # as written, disguise included
    obfuscation: str | None = None
    banned_image: str | None = None  # image_id of the original a reupload copies
    transform: Mapping | None = None
    watchlisted: bool = False

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.post_id}"


@dataclass(frozen=True, slots=True)
class ReportTruth:
    """One user report; ``burst`` when it is one of several reporters on one post within 10 minutes."""

    platform: str
    post_id: str
    reporter_id: str
    reason: str
    burst: bool


@dataclass
class GroundTruth:
    posts: dict[str, PostTruth] = field(default_factory=dict)  # by platform:post_id
    reports: list[ReportTruth] = field(default_factory=list)
    banned_images: dict[str, BannedImage] = field(default_factory=dict)

    def violating_keys(self) -> set[str]:
        return {key for key, post in self.posts.items() if post.violating}

    def keys_of_kind(self, kind: str) -> set[str]:
        return {key for key, post in self.posts.items() if post.kind == kind}

    def as_dict(self) -> dict:
        """JSON-ready: what a demo writes beside its run (``--ground-truth``)."""
        return {
            "posts": [
                {
                    name: (dict(value) if isinstance(value, Mapping) else value)
                    for name, value in ((name, getattr(post, name)) for name in PostTruth.__dataclass_fields__)
                }
                for post in self.posts.values()
            ],
            "reports": [
                {name: getattr(report, name) for name in ReportTruth.__dataclass_fields__} for report in self.reports
            ],
            "banned_images": [
                {
                    "image_id": image.image_id,
                    "pdq": image.pdq,
                    "quality": image.quality,
                    "md5": image.md5,
                    "sha256": image.sha256,
                }
                for image in self.banned_images.values()
            ],
        }

    def reupload_originals(self) -> dict[str, str]:
        """platform:post_id of each re-upload -> the banned original's PDQ hash."""
        return {key: self.banned_images[post.banned_image].pdq for key, post in self.posts.items() if post.banned_image}
