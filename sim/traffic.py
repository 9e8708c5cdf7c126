"""Synthetic traffic: posts and user reports for the configured platforms, deterministic from a seed.

One run of :meth:`Traffic.timed_events` makes posts in order, one every
``1 / rate_posts_per_second`` seconds of traffic time, and the reports on
them a little later:

1. each block of ``block_posts`` posts gets exactly ``shares`` of each kind
   (violating, reupload, watchlisted, news, benign_image; the rest everyday
   benign posts), shuffled inside the block;
2. a violating post names a designated group (an alias from
   config/designations.yaml in the post's language, or its acronym) beside
   promotion or threat phrasing from sim/data/phrases.yaml, the name
   disguised in ``obfuscated_share`` of them (sim/_obfuscation.py); a news
   post names a group in reporting, condemnation or counter-speech, which
   must not be taken down;
3. a reupload carries a transformed copy (resized, brightness, a caption
   overlay, JPEG-recompressed) of one of the banned originals, generated
   with Pillow (sim/_images.py); :meth:`Traffic.hash_bank_csv` lists the originals' PDQ hashes
   for config/hashbank/, :meth:`Traffic.hash_bank_events` the same as records
   for the hashbank topic;
4. a watchlisted post comes from an account in config/watchlists.yaml;
5. some posts are reported (violating ones far more often), a few of them
   by a burst of reporters, above modwatch's report-velocity threshold.

Every event is valid per the event contract (docs/events.md) and keyed
``platform:post_id``. The run's :class:`~sim._ground_truth.GroundTruth`
(``traffic.ground_truth``, replaced by each run) says which posts are violating and why, what each
should get (``expected_action``), and which banned image each reupload copies.

Everything is a function of the seed and ``start``: the same seed and start
give byte-identical events (Pillow's JPEG encoder is deterministic for one
Pillow version). Without ``start`` the clock is read once, at construction.
The ``traffic`` section of sim/config.yaml is read by sim/_traffic_config.py.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import io
import itertools
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import orjson
from PIL import Image

from detectors.designation_lists import Organisation
from detectors.hashbank import bank_csv, make_entry
from detectors.hashing import ImageHasher
from detectors.watchlist import ANY_PLATFORM
from sim._ground_truth import BannedImage, GroundTruth, PostTruth, ReportTruth
from sim._images import generated_image, jpeg_bytes, png_bytes, reupload_copy
from sim._obfuscation import methods_for, obfuscate
from sim._phrases import phrases
from sim._traffic_config import KINDS, SHARED_KINDS, TrafficConfig

POSTS_TOPIC = "posts"
REPORTS_TOPIC = "reports"
HASHBANK_TOPIC = "hashbank"
# The post's `lang` field: detectors/language.py reads "ur-Latn" as Roman Urdu.
LANGUAGE_TAGS = MappingProxyType({"en": "en", "roman_ur": "ur-Latn", "ur": "ur", "ps": "ps"})


class Traffic:
    """Posts and reports for the simulator; see the module docstring."""

    def __init__(
        self,
        config: TrafficConfig,
        *,
        start: datetime | None = None,
        base_urls: Mapping[str, str] | None = None,
    ):
        self.config = config
        self._start_given = start is not None
        self.start = (start or datetime.now(UTC)).astimezone(UTC)
        self.base_urls = dict(base_urls or {})
        self.ground_truth = GroundTruth()
        self.phrases = phrases()
        self._banned: dict[str, BannedImage] | None = None

    # -- hash bank --

    @property
    def banned_images(self) -> dict[str, BannedImage]:
        if self._banned is None:
            hasher = ImageHasher(unletterbox_tolerance=None)
            banned = {}
            for number in range(self.config.banned_images):
                image_id = f"banned-{self.config.seed}-{number}"
                png = png_bytes(generated_image(image_id, self.config.image_side_px))
                hashes = hasher.hash_bytes(png)
                banned[image_id] = BannedImage(
                    image_id, hashes.pdq[0].hash, hashes.quality, hashes.md5, hashes.sha256, png
                )
            self._banned = banned
        return self._banned

    def hash_bank_csv(self) -> str:
        """The banned originals' PDQ hashes as a bank file (config/hashbank/*.csv), header included."""
        source = f"modwatch simulator seed {self.config.seed}"
        return bank_csv(
            make_entry("pdq", image.pdq, self.config.hash_bank_label, source) for image in self.banned_images.values()
        )

    def hash_bank_events(self) -> list[tuple[str, bytes, bytes]]:
        """The same entries as changes for the compacted hashbank topic (streams/agents/followers.py follow_hash_bank)."""
        events = []
        for image in self.banned_images.values():
            change = {
                "op": "add",
                "hash_type": "pdq",
                "hash": image.pdq,
                "label": self.config.hash_bank_label,
                "source": f"modwatch simulator seed {self.config.seed}",
                "at": self.start.isoformat(),
            }
            events.append((HASHBANK_TOPIC, f"pdq:{image.pdq}".encode(), orjson.dumps(change)))
        return events

    # -- events --

    def __iter__(self) -> Iterator[tuple[str, bytes, bytes]]:
        return self.events()

    def events(self, posts: int | None = None) -> Iterator[tuple[str, bytes, bytes]]:
        """(topic short name, key, value) for ``posts`` posts (forever if None) and their reports."""
        for _, topic, key, value in self.timed_events(posts):
            yield topic, key, value

    def timed_events(self, posts: int | None = None) -> Iterator[tuple[float, str, bytes, bytes]]:
        """(seconds after ``start``, topic, key, value), in time order. Starts a new run and ground truth."""
        truth = GroundTruth(banned_images=dict(self.banned_images))
        self.ground_truth = truth
        rng = random.Random(f"{self.config.seed}:traffic")
        pending: list[tuple[float, int, bytes, bytes]] = []
        sequence = itertools.count()
        kinds = self._kinds(rng)
        for index in range(posts) if posts is not None else itertools.count():
            offset = index / self.config.rate_posts_per_second
            while pending and pending[0][0] <= offset:
                due, _, key, value = heapq.heappop(pending)
                yield due, REPORTS_TOPIC, key, value
            record, post_truth = self._post(rng, index, next(kinds), offset)
            truth.posts[post_truth.key] = post_truth
            key = post_truth.key.encode()
            yield offset, POSTS_TOPIC, key, orjson.dumps(record)
            for due, report, report_truth in self._reports(rng, post_truth, offset):
                truth.reports.append(report_truth)
                heapq.heappush(pending, (due, next(sequence), key, orjson.dumps(report)))
        while pending:
            due, _, key, value = heapq.heappop(pending)
            yield due, REPORTS_TOPIC, key, value

    async def play(
        self,
        send: Callable[[str, bytes, bytes], Awaitable[None]],
        posts: int | None = None,
        *,
        hash_bank: bool = True,
    ) -> int:
        """Send the events at their times, through ``send(topic, key, value)``; returns how many.

        With ``hash_bank``, the bank entries go first. Without a ``start`` given at
        construction, the run's timestamps start now, when play begins. A slow
        ``send`` delays what follows, never makes it early, so no timestamp is
        ahead of the wall clock. Reports still due after the last post are sent
        at once (their reported_at up to 10 minutes ahead).
        """
        if not self._start_given:
            self.start = datetime.now(UTC)
        sent = 0
        if hash_bank:
            for topic, key, value in self.hash_bank_events():
                await send(topic, key, value)
                sent += 1
        last_post = math.inf if posts is None else (posts - 1) / self.config.rate_posts_per_second
        began = time.monotonic()
        for offset, topic, key, value in self.timed_events(posts):
            wait = began + min(offset, last_post) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await send(topic, key, value)
            sent += 1
        return sent

    # -- one post --

    def _kinds(self, rng: random.Random) -> Iterator[str]:
        """Kinds in blocks of block_posts: exact counts (largest remainder), shuffled in each block."""
        block = self.config.block_posts
        wanted = {kind: self.config.shares.get(kind, 0.0) * block for kind in SHARED_KINDS}
        counts = {kind: math.floor(value + 1e-9) for kind, value in wanted.items()}
        remainder = round(sum(wanted.values())) - sum(counts.values())
        for kind in sorted(SHARED_KINDS, key=lambda kind: counts[kind] - wanted[kind])[: max(0, remainder)]:
            counts[kind] += 1
        counts["benign"] = block - sum(counts.values())
        pattern = [kind for kind in KINDS for _ in range(counts[kind])]
        while True:
            rng.shuffle(pattern)
            yield from pattern

    def _post(self, rng: random.Random, index: int, kind: str, offset: float) -> tuple[dict, PostTruth]:
        config = self.config
        language = rng.choices(list(config.languages), weights=list(config.languages.values()))[0]
        platform = rng.choice(config.platforms)
        account_id = f"sim-user-{rng.randrange(100_000):05d}"
        handle = f"@sim_user_{rng.randrange(100_000):05d}"
        post_id = f"sim{config.seed}-{index:07d}"
        watchlisted = False
        kind_of_text = kind
        if kind == "watchlisted":
            entry = rng.choice(config.watchlist) if config.watchlist else None
            if entry is not None:
                watchlisted = True
                if entry.platform != ANY_PLATFORM:
                    platform = entry.platform
                account_id = entry.account_id or account_id
                handle = entry.handle or handle
            kind_of_text = "violating" if rng.random() < config.watchlisted_violating_share else "benign"
        text, media, truth = self._content(rng, index, kind, kind_of_text, language)
        observed_at = self.start + timedelta(seconds=offset)
        posted_at = observed_at - timedelta(seconds=rng.uniform(5, 900))
        base = self.base_urls.get(platform, f"https://{platform}.example")
        record = {
            "platform": platform,
            "post_id": post_id,
            "account_id": account_id,
            "account_handle": handle,
            "url": f"{base}/p/{post_id}",
            "text": text,
            "lang": LANGUAGE_TAGS[language],
            "posted_at": _timestamp(posted_at),
            "observed_at": _timestamp(observed_at),
        }
        if media:
            record["media"] = media
        return record, PostTruth(
            platform=platform, post_id=post_id, account_id=account_id, watchlisted=watchlisted, **truth
        )

    def _content(
        self, rng: random.Random, index: int, kind: str, kind_of_text: str, language: str
    ) -> tuple[str, list[dict] | None, dict]:
        """The post's text and media, and its ground truth but for who posted it where."""
        truth = dict(kind=kind, language=language, violating=False, expected_action="none")
        media = None
        if kind_of_text == "violating":
            text, details = self._violating_text(rng, language)
            truth.update(details, violating=True, expected_action="takedown")
        elif kind_of_text == "news":
            text, details = self._news_text(rng, language)
            truth.update(details)
        elif kind == "reupload":
            image = rng.choice(list(self.banned_images.values()))
            copy, transform = reupload_copy(Image.open(io.BytesIO(image.png)), rng, self.phrases.overlay_texts)
            media = [{"kind": "image", "data_b64": base64.b64encode(copy).decode()}]
            text = rng.choice(self.phrases.captions[language])
            truth.update(
                banned_image=image.image_id,
                transform=MappingProxyType(transform),
                violating=True,
                expected_action="takedown",
            )
        else:
            text = self.phrases.everyday[language].compose(rng)
            if kind == "benign_image":
                image = generated_image(f"benign-{self.config.seed}-{index}", self.config.image_side_px // 2 + 256)
                media = [{"kind": "image", "data_b64": base64.b64encode(jpeg_bytes(image, 85)).decode()}]
        return text, media, truth

    def _name(self, rng: random.Random, organisation: Organisation, language: str) -> tuple[str, bool]:
        if language in ("en", "roman_ur") and organisation.acronyms and rng.random() < self.config.acronym_share:
            return rng.choice(organisation.acronyms), True
        aliases = [alias for alias_language, alias in organisation.aliases if alias_language == language]
        alias = rng.choice(aliases)
        if language == "roman_ur":
            # Typed in lower case in the config; people capitalise the words, not the links.
            alias = " ".join(
                word if word in {"e", "i", "ul", "ud", "al"} else word.capitalize() for word in alias.split()
            )
        return alias, False

    def _violating_text(self, rng: random.Random, language: str) -> tuple[str, dict]:
        purpose = rng.choice(("promotion", "threat"))
        templates = self.phrases.templates[purpose][language]
        number = rng.randrange(len(templates))
        organisation = rng.choice(self.config.organisations)
        name, is_acronym = self._name(rng, organisation, language)
        obfuscation = None
        if rng.random() < self.config.obfuscated_share:
            obfuscation = rng.choice(methods_for(name, is_acronym, language))
            name = obfuscate(name, obfuscation, rng)
        text = _fill(templates[number], name)
        return text, {
            "template": f"{purpose}:{language}:{number}",
            "organisation": organisation.id,
            "name": name,
            "obfuscation": obfuscation,
        }

    def _news_text(self, rng: random.Random, language: str) -> tuple[str, dict]:
        templates = self.phrases.templates["news"][language]
        number = rng.randrange(len(templates))
        organisation = rng.choice(self.config.organisations)
        name, _ = self._name(rng, organisation, language)
        return _fill(templates[number], name), {
            "template": f"news:{language}:{number}",
            "organisation": organisation.id,
            "name": name,
        }

    def _reports(self, rng: random.Random, post: PostTruth, offset: float) -> list[tuple[float, dict, ReportTruth]]:
        share = self.config.violating_reported_share if post.violating else self.config.benign_reported_share
        if rng.random() >= share:
            return []
        burst = post.violating and rng.random() < self.config.report_burst_share
        count = self.config.report_burst_size if burst else 1
        reasons = self.phrases.report_reasons["violating" if post.violating else "benign"]
        reporters = rng.sample(range(1_000_000), count)
        made = []
        for reporter in reporters:
            # A burst lands within 10 minutes, inside modwatch's 60-minute velocity window.
            due = offset + (rng.uniform(20, 600) if burst else rng.uniform(10, 120))
            reason = rng.choice(reasons)
            reporter_id = f"sim-reporter-{reporter:06d}"
            report = {
                "platform": post.platform,
                "post_id": post.post_id,
                "reporter_id": reporter_id,
                "reason": reason,
                "reported_at": _timestamp(self.start + timedelta(seconds=due)),
            }
            made.append((due, report, ReportTruth(post.platform, post.post_id, reporter_id, reason, burst)))
        return made


def _fill(template: str, name: str) -> str:
    if name.startswith("د ") and "د {name}" in template:
        # Pashto aliases that begin with the possessive "د" ("د خراسان داعش") take its place.
        template = template.replace("د {name}", "{name}")
    return template.replace("{name}", name)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
