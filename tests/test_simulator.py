"""The platform simulator (sim/): its traffic, its platforms and their statistics. No Kafka.

Statistical tolerance. A sample median of n draws estimates the configured
median m; how many draws fall below m is Binomial(n, 1/2) whatever the
distribution, so "the configured median agrees" is the test
|S(m) - 1/2| <= z * se, with S the Kaplan-Meier share still up at m (the
plain share above m without censoring) and se its Greenwood standard error
(sim.median_agrees; Brookmeyer and Crowley's interval for a
median). z = 3.29 (99.9 %): the six platforms are checked together, so the
chance that a correct simulator fails any of them is about 0.6 %. Over 2,000
draws that is +-3.7 % of the draws around the median, which for the
configured distributions is a relative error of the median of about +-9 %
(lognormal sigma 1) and -12 % to +11 % (exponential, x). The draws are
seeded, so the test is deterministic, and the classic mistakes
(a lognormal's mean used as its median, +38 % at sigma 0.8; an
exponential's mean as its median, +44 %) fail it by a wide margin.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import random
import shutil
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import numpy as np
import orjson
import pytest
from aiohttp import ClientSession, web
from multidict import CIMultiDict
from scipy import stats

import sim
from detectors.configfile import ConfigError, Problems
from detectors.events import EventParser, InvalidEvent
from detectors.hashbank import load_bank_file
from detectors.hashing import PDQ_CONFIDENT_MATCH_THRESHOLD, ImageHasher, hamming_distance
from detectors.pipeline import Pipeline
from sim import LatencyModel, PlatformBehaviour, PlatformsConfig, median_agrees
from sim._phrases import load_phrases
from sim.traffic import KINDS, Traffic
from takedowns.requests import request_id_for

pytestmark = pytest.mark.slow  # left out of `make check` (seconds each); `make test` runs it

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
CONFIDENCE = 0.999
POSTS = 2000  # 20 blocks of 100: every configured share is exact


@pytest.fixture(scope="module")
def config() -> sim.SimConfig:
    return sim.load_config()


@pytest.fixture(scope="module")
def traffic(config) -> tuple[Traffic, list[tuple[str, bytes, bytes]]]:
    generator = Traffic(config.traffic, start=START)
    return generator, list(generator.events(POSTS))


# -- Traffic -------------------------------------------------------------------------


def test_traffic_is_identical_for_the_same_seed_and_start(config, traffic):
    generator, events = traffic
    again = list(Traffic(config.traffic, start=START).events(300))
    assert again == list(Traffic(config.traffic, start=START).events(300))
    # A shorter run is the start of a longer one (only the reports due after its last post move up).
    assert [event for event in again if event[0] == "posts"] == [event for event in events if event[0] == "posts"][:300]
    other = list(Traffic(config.traffic.with_overrides(seed=7), start=START).events(300))
    assert [value for _, _, value in other] != [value for _, _, value in again]


def test_every_event_is_valid_per_the_contract(config, traffic):
    generator, events = traffic
    pipeline = Pipeline.from_config_dir(ROOT / "config")
    failures = []
    topics = Counter()
    for topic, key, value in events:
        topics[topic] += 1
        try:
            # parse_post also decodes and hashes every image, as the worker does.
            event = pipeline.parse_post(value) if topic == "posts" else pipeline.parser.report(value)
        except InvalidEvent as error:
            failures.append((topic, key, error))
            continue
        assert key == f"{event.platform}:{event.post_id}".encode()
    assert failures == []
    assert set(topics) == {"posts", "reports"} and topics["posts"] == POSTS
    # Every report names a post sent before it.
    seen = set()
    for topic, key, _ in events:
        if topic == "posts":
            seen.add(key)
        else:
            assert key in seen


def test_kinds_have_exactly_the_configured_shares(config, traffic):
    generator, _ = traffic
    counts = Counter(post.kind for post in generator.ground_truth.posts.values())
    for kind, share in config.traffic.shares.items():
        assert counts[kind] == round(share * POSTS), kind
    assert counts["benign"] == POSTS - sum(counts[kind] for kind in config.traffic.shares)
    assert set(counts) <= set(KINDS)
    languages = Counter(post.language for post in generator.ground_truth.posts.values())
    assert set(languages) == {"en", "roman_ur", "ur", "ps"}
    platforms = Counter(post.platform for post in generator.ground_truth.posts.values())
    assert set(platforms) == set(config.traffic.platforms)


def test_watchlisted_posts_come_from_listed_accounts(traffic):
    generator, events = traffic
    by_key = {key.decode(): orjson.loads(value) for topic, key, value in events if topic == "posts"}
    watchlisted = [by_key[key] for key in generator.ground_truth.keys_of_kind("watchlisted")]
    assert watchlisted
    for post in watchlisted:
        assert (post["platform"], post["account_id"]) == ("x", "acct-99") or post[
            "account_handle"
        ] == "@khorasan_voice_example"


def test_reports_favour_violating_posts_and_some_come_in_bursts(traffic):
    generator, _ = traffic
    truth = generator.ground_truth
    reported = Counter(f"{report.platform}:{report.post_id}" for report in truth.reports)
    violating = truth.violating_keys()
    assert sum(count for key, count in reported.items() if key in violating) > 0.7 * len(truth.reports)
    assert max(reported.values()) >= 6  # a burst: above the report-velocity threshold of 5


def test_banned_reuploads_match_their_originals_within_31_bits(traffic):
    generator, events = traffic
    hasher = ImageHasher(unletterbox_tolerance=None)
    for image in generator.banned_images.values():
        assert image.quality >= 50, image.image_id
    originals = generator.ground_truth.reupload_originals()
    images = {
        key.decode(): orjson.loads(value)["media"][0]["data_b64"]
        for topic, key, value in events
        if topic == "posts" and b'"media"' in value
    }
    distances = []
    for key, original in originals.items():
        copy = hasher.hash_bytes(base64.b64decode(images[key]))
        distances.append(hamming_distance(copy.pdq[0].hash, original))
    assert len(distances) == round(0.03 * POSTS)
    assert max(distances) <= PDQ_CONFIDENT_MATCH_THRESHOLD, sorted(distances)
    # Unrelated generated images stay far from every banned one.
    banned = [image.pdq for image in generator.banned_images.values()]
    for key in generator.ground_truth.keys_of_kind("benign_image"):
        pdq = hasher.hash_bytes(base64.b64decode(images[key])).pdq[0].hash
        assert min(hamming_distance(pdq, other) for other in banned) > 2 * PDQ_CONFIDENT_MATCH_THRESHOLD


def test_hash_bank_csv_loads_as_a_bank_file(traffic, tmp_path):
    generator, _ = traffic
    path = tmp_path / "sim.csv"
    path.write_text(generator.hash_bank_csv())
    problems = Problems()
    entries = load_bank_file(path, problems)
    assert problems.messages == []
    assert {entry.hash for entry in entries} == {image.pdq for image in generator.banned_images.values()}
    assert orjson.loads(orjson.dumps(generator.ground_truth.as_dict()))["banned_images"][0]["pdq"] == entries[0].hash
    topic, key, value = generator.hash_bank_events()[0]
    change = orjson.loads(value)
    assert topic == "hashbank" and key == f"pdq:{change['hash']}".encode() and change["op"] == "add"


def test_detector_pipeline_takes_down_violating_posts_and_leaves_benign_ones(config, traffic, tmp_path):
    """The whole stream through the real pipeline, with the simulator's bank installed."""
    generator, events = traffic
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "config" / "hashbank" / "sim.csv").write_text(generator.hash_bank_csv())
    pipeline = Pipeline.from_config_dir(tmp_path / "config")
    posts = [pipeline.parse_post(value) for topic, _, value in events if topic == "posts"]
    decisions = pipeline.scan(posts)
    truth = generator.ground_truth.posts
    outcomes = Counter(
        (truth[decision.post.key].kind, truth[decision.post.key].violating, decision.action) for decision in decisions
    )
    violating = [decision for decision in decisions if truth[decision.post.key].violating]
    taken_down = sum(decision.action == "takedown" for decision in violating)
    text_only = [decision for decision in violating if truth[decision.post.key].template]
    text_share = sum(decision.action == "takedown" for decision in text_only) / len(text_only)
    print(
        f"\nviolating posts to takedown: {taken_down}/{len(violating)}; text templates {text_share:.1%}; {dict(outcomes)}"
    )
    assert text_share >= 0.95
    assert taken_down / len(violating) >= 0.95
    not_violating = [decision for decision in decisions if not truth[decision.post.key].violating]
    assert [decision.post.text for decision in not_violating if decision.action == "takedown"] == []
    everyday = [decision for decision in not_violating if truth[decision.post.key].kind != "news"]
    assert [decision.post.text for decision in everyday if decision.action != "none"] == []


def test_every_template_language_and_obfuscation_is_flagged(config):
    """Each violating template, in each disguise, goes to takedown (not just most of a sample)."""
    generator = Traffic(
        config.traffic.with_overrides(shares=MappingProxyType({"violating": 1.0}), obfuscated_share=0.5), start=START
    )
    pipeline = Pipeline.from_config_dir(ROOT / "config")
    posts = [pipeline.parse_post(value) for topic, _, value in generator.events(1500) if topic == "posts"]
    truth = generator.ground_truth.posts
    missed = [
        (truth[d.post.key].template, truth[d.post.key].obfuscation, d.post.text)
        for d in pipeline.scan(posts)
        if d.action != "takedown"
    ]
    covered = {(post.template, post.obfuscation is not None) for post in truth.values()}
    assert len({template for template, _ in covered}) == 34  # every template was drawn
    assert missed == []


async def test_play_sends_the_bank_first_then_paces_posts_at_the_configured_rate(config):
    generator = Traffic(config.traffic.with_overrides(rate_posts_per_second=200.0))
    sent = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        sent.append((time.monotonic(), topic, key))

    began = time.monotonic()
    count = await generator.play(send, posts=100)
    assert count == len(sent)
    banks = config.traffic.banned_images
    assert [topic for _, topic, _ in sent[:banks]] == ["hashbank"] * banks
    assert sum(topic == "posts" for _, topic, _ in sent) == 100
    # 100 posts at 200/s: the last one half a second in, not before.
    assert sent[-1][0] - began >= 99 / 200 - 0.01
    first_post = orjson.loads(next(generator.events(1))[2])
    assert abs(datetime.fromisoformat(first_post["observed_at"]) - datetime.now(UTC)) < timedelta(seconds=5)


# -- Platforms ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StatusReceiver:
    """modwatch's POST /status, as far as the simulator can tell: records what arrives."""

    def __init__(self, secrets: dict[str, str]):
        self.secrets = secrets
        self.received: list[tuple[dict, dict, bool]] = []  # (headers, body, signature valid)
        self.arrived = asyncio.Event()

    async def receive_status(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = orjson.loads(body)
        secret = self.secrets[status["platform"]].encode()
        timestamp = request.headers["X-Modwatch-Timestamp"]
        expected = "v1=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, request.headers["X-Modwatch-Signature"])
        self.received.append((dict(request.headers), status, valid))
        self.arrived.set()
        return web.json_response({"accepted": True}, status=202)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/status", self.receive_status)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/status"


def takedown_request(platform: str, post_id: str, deadline_hours: float = 48) -> bytes:
    requested = datetime.now(UTC)
    return orjson.dumps(
        {
            "request_id": request_id_for(platform, post_id),
            "platform": platform,
            "post_id": post_id,
            "categories": ["terrorism_promotion"],
            "requested_at": requested.isoformat(),
            "deadline": (requested + timedelta(hours=deadline_hours)).isoformat(),
        }
    )


async def deliver(session, handles, platform, body, secret, *, timestamp=None, key=None, signature=None):
    timestamp = str(int(time.time() if timestamp is None else timestamp))
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": key or orjson.loads(body)["request_id"],
        "X-Modwatch-Timestamp": timestamp,
        "X-Modwatch-Signature": signature
        or "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest(),
    }
    async with session.post(handles.webhook_urls[platform], data=body, headers=headers) as response:
        return response.status, await response.json(), response.headers


def fixed_platforms(seconds: float, *, time_scale: float, ignore_share: float = 0.0) -> PlatformsConfig:
    behaviour = PlatformBehaviour("facebook", LatencyModel("fixed", seconds=seconds), ignore_share, callback=True)
    return PlatformsConfig(MappingProxyType({"facebook": behaviour}), time_scale=time_scale)


async def test_signed_request_is_removed_after_its_latency_and_reported_signed():
    secrets = {"facebook": "s3cret-facebook"}
    receiver = StatusReceiver(secrets)
    callback_url = await receiver.start()
    # 3600 platform seconds at 6000x: 0.6 s of wall time.
    handles = await sim.start_platforms(fixed_platforms(3600, time_scale=6000), callback_url, secrets)
    try:
        async with ClientSession() as session:
            body = takedown_request("facebook", "p-1")
            status, answer, _ = await deliver(session, handles, "facebook", body, secrets["facebook"])
            assert (status, answer["status"]) == (200, "accepted")
            async with session.get(handles.platforms["facebook"].content_url("p-1")) as page:
                assert page.status == 200  # not yet: the removal is 0.6 s away
            await asyncio.wait_for(receiver.arrived.wait(), 5)
            async with session.get(handles.platforms["facebook"].content_url("p-1")) as page:
                assert page.status == 410
                gone = await page.json()
        [record] = handles.ground_truth()
        assert record.latency_seconds == 3600 and not record.ignored
        assert record.removed_at == record.received_at + timedelta(seconds=3600)
        wall = (record.removed_wall_at - record.received_at).total_seconds()
        assert 0.6 - 0.05 <= wall < 2.0
        assert gone["observed_at"] == record.removed_at.isoformat()
        [(headers, status_event, valid)] = receiver.received
        assert valid
        assert headers["Idempotency-Key"] == f"{record.request_id}:removed"
        assert headers["X-Modwatch-Platform"] == "facebook"
        assert abs(int(headers["X-Modwatch-Timestamp"]) - time.time()) < 10
        # A valid status event per the contract, timed in platform time.
        parsed = EventParser(frozenset({"facebook"})).status(orjson.dumps(status_event))
        assert (parsed.status, parsed.post_id, parsed.observed_at) == ("removed", "p-1", record.removed_at)
        assert record.callback_status == 202 and record.callback_attempts == 1
    finally:
        await handles.stop()
        await receiver.runner.cleanup()


async def test_bad_signature_and_stale_timestamp_are_refused_with_401():
    secrets = {"facebook": "right"}
    handles = await sim.start_platforms(fixed_platforms(60, time_scale=1000), None, secrets)
    try:
        async with ClientSession() as session:
            body = takedown_request("facebook", "p-2")
            assert (await deliver(session, handles, "facebook", body, "wrong"))[0] == 401
            assert (await deliver(session, handles, "facebook", body, "right", timestamp=time.time() - 301))[0] == 401
            assert (await deliver(session, handles, "facebook", body, "right", timestamp=time.time() + 301))[0] == 401
            tampered = body.replace(b"p-2", b"p-3")
            signature = sim.sign("right", int(time.time()), body)
            assert (await deliver(session, handles, "facebook", tampered, "right", signature=signature))[0] == 401
            # Still within 300 s: accepted.
            assert (await deliver(session, handles, "facebook", body, "right", timestamp=time.time() - 290))[0] == 200
        assert len(handles.ground_truth()) == 1
        reasons = [refusal.reason for refusal in handles.refused()]
        assert [refusal.status for refusal in handles.refused()] == [401, 401, 401, 401]
        assert "does not match" in reasons[0] and "does not match" in reasons[3]
        assert "s old by the platform's clock" in reasons[1]
        assert "s in the future by the platform's clock" in reasons[2]
    finally:
        await handles.stop()


async def test_webhooks_are_verified_by_modwatchs_own_rules():
    """One signature, each header once (takedowns/signing.py): what modwatch's POST /status accepts too."""
    secrets = {"facebook": "right"}
    handles = await sim.start_platforms(fixed_platforms(60, time_scale=1000), None, secrets)
    try:
        async with ClientSession() as session:
            body = takedown_request("facebook", "p-5")
            signature = sim.sign("right", int(time.time()), body)
            rotated = f"{signature},v1={'0' * 64}"
            assert (await deliver(session, handles, "facebook", body, "right", signature=rotated))[0] == 401
            headers = CIMultiDict(
                [
                    ("Idempotency-Key", orjson.loads(body)["request_id"]),
                    ("X-Modwatch-Timestamp", str(int(time.time()))),
                    ("X-Modwatch-Signature", signature),
                    ("X-Modwatch-Signature", signature),
                ]
            )
            async with session.post(handles.webhook_urls["facebook"], data=body, headers=headers) as response:
                assert response.status == 401
        assert handles.ground_truth() == []
        assert [refusal.reason.split(":")[0] for refusal in handles.refused()] == ["bad_format", "bad_format"]
    finally:
        await handles.stop()


async def test_duplicate_idempotency_key_answers_the_same_and_removes_once():
    secrets = {"facebook": "k"}
    receiver = StatusReceiver(secrets)
    callback_url = await receiver.start()
    handles = await sim.start_platforms(fixed_platforms(60, time_scale=1000), callback_url, secrets)
    try:
        async with ClientSession() as session:
            body = takedown_request("facebook", "p-4")
            first = await deliver(session, handles, "facebook", body, "k")
            second = await deliver(session, handles, "facebook", body, "k")
            # A retry after the removal, re-signed with a later timestamp.
            await handles.wait_idle(5)
            third = await deliver(session, handles, "facebook", body, "k", timestamp=int(time.time()) + 1)
        assert first[0] == second[0] == third[0] == 200
        assert first[1] == second[1] == third[1]
        assert second[2].get("Idempotent-Replayed") == "true"
        [record] = handles.ground_truth()
        assert record.replays == 2
        assert len(handles.removals()) == 1 and len(receiver.received) == 1
    finally:
        await handles.stop()
        await receiver.runner.cleanup()


async def test_ignored_requests_are_accepted_and_never_removed():
    secrets = {"facebook": "k"}
    handles = await sim.start_platforms(fixed_platforms(60, time_scale=1000, ignore_share=0.99), None, secrets)
    try:
        async with ClientSession() as session:
            for number in range(5):
                body = takedown_request("facebook", f"p-{number}")
                assert (await deliver(session, handles, "facebook", body, "k"))[0] == 200
            await asyncio.sleep(0.2)
            async with session.get(handles.platforms["facebook"].content_url("p-0")) as page:
                assert page.status == 200
        assert [record.ignored for record in handles.ground_truth()] == [True] * 5
        assert handles.removals() == []
    finally:
        await handles.stop()


async def test_every_configured_platform_serves_and_draws_deterministically(config):
    secrets = sim.generate_secrets(config.platforms.platforms)
    fast = config.platforms.with_time_scale(1e9)  # every removal within milliseconds
    runs = []
    for _ in range(2):
        handles = await sim.start_platforms(fast, None, secrets)
        try:
            async with ClientSession() as session:
                for platform in config.traffic.platforms:
                    for number in range(3):
                        body = takedown_request(platform, f"{platform}-{number}")
                        assert (await deliver(session, handles, platform, body, secrets[platform]))[0] == 200
            await handles.wait_idle(5)
            runs.append([(r.platform, r.latency_seconds, r.ignored) for r in handles.ground_truth()])
            assert {r.platform for r in handles.ground_truth()} == set(config.traffic.platforms)
            ports = {url.rsplit(":", 1)[1] for url in handles.base_urls.values()}
            assert len(ports) == len(config.traffic.platforms)
        finally:
            await handles.stop()
    assert runs[0] == runs[1]


async def test_failed_callbacks_are_retried_with_the_same_observed_at():
    secrets = {"facebook": "k"}
    answers = [503, 202]
    bodies = []

    async def flaky_status(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.json_response({}, status=answers[len(bodies) - 1])

    app = web.Application()
    app.router.add_post("/status", flaky_status)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    config = fixed_platforms(60, time_scale=1000)
    config = PlatformsConfig(config.platforms, time_scale=1000, callback_first_retry_seconds=0.05)
    handles = await sim.start_platforms(config, f"http://127.0.0.1:{port}/status", secrets)
    try:
        async with ClientSession() as session:
            await deliver(session, handles, "facebook", takedown_request("facebook", "p-9"), "k")
        await handles.wait_idle(5)
        [record] = handles.ground_truth()
        assert (record.callback_attempts, record.callback_status) == (2, 202)
        assert bodies[0] == bodies[1]  # same event; only the signature's timestamp may differ
    finally:
        await handles.stop()
        await runner.cleanup()


def test_a_platform_with_a_missing_secret_is_refused(config):
    with pytest.raises(ValueError, match="no secret for platform"):
        sim.platforms.SimulatedPlatforms(config.platforms, None, {"facebook": "k"})


def test_a_broken_phrases_file_is_refused_with_its_file_line_and_field(tmp_path):
    text = (ROOT / "sim" / "data" / "phrases.yaml").read_text(encoding="utf-8")
    broken = text.replace('"The heroes of {name} stand firm.', '"The heroes stand firm.')
    broken = broken.replace("overlay_texts:", "overlay_text:")
    path = tmp_path / "phrases.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_phrases(path)
    line = next(number for number, row in enumerate(broken.splitlines(), 1) if "The heroes stand firm." in row)
    assert any(
        message.startswith(f"{path}:{line}: promotion.en[1]: ")
        and message.endswith("has no {name} for the group's name")
        for message in raised.value.problems
    ), raised.value.problems
    assert any(
        "overlay_text: is not a phrases.yaml setting; did you mean 'overlay_texts'?" in message
        for message in raised.value.problems
    )
    assert all("\n" not in message for message in raised.value.problems)


# -- Statistics ----------------------------------------------------------------------------


def _draws(behaviour: PlatformBehaviour, count: int, deadline: float | None) -> list[float]:
    rng = random.Random(f"stats:{behaviour.name}")
    return [behaviour.latency.draw(rng, deadline) for _ in range(count)]


@pytest.mark.parametrize("platform", ["facebook", "instagram", "tiktok", "youtube", "x", "telegram"])
def test_latency_draws_match_the_configured_distribution(config, platform):
    behaviour = config.platforms.platforms[platform]
    deadline = 48 * 3600.0  # PK, every platform's default jurisdiction
    draws = _draws(behaviour, 2000, deadline)
    median = behaviour.latency.median(deadline)
    check = median_agrees([(seconds, True) for seconds in draws], median, confidence=CONFIDENCE)
    assert check.agrees, check.describe()
    below = sum(seconds < median for seconds in draws)
    assert abs(below - 1000) <= 3.29 * math.sqrt(2000) / 2
    # The whole shape, not only the median.
    cdf = np.vectorize(lambda seconds: behaviour.latency.cdf(seconds, deadline))
    assert stats.kstest(draws, cdf).pvalue > 0.001
    # A wrongly parametrised model fails the same check: the median scaled as a
    # lognormal's mean would be at sigma 0.8 (x1.377).
    assert not median_agrees([(seconds, True) for seconds in draws], median * 1.377, confidence=CONFIDENCE).agrees


def test_youtube_removes_95_percent_within_the_deadline(config):
    behaviour = config.platforms.platforms["youtube"]
    deadline = 48 * 3600.0
    within = sum(seconds <= deadline for seconds in _draws(behaviour, 2000, deadline)) / 2000
    # Binomial sd at 0.95 over 2000: 0.49 %; 3.29 sd.
    assert abs(within - 0.95) <= 3.29 * math.sqrt(0.95 * 0.05 / 2000)
    assert behaviour.latency.median(deadline) == pytest.approx(deadline * math.exp(-1.6449 * 1.0), rel=1e-3)


def test_telegram_median_with_ignored_requests_agrees_only_when_censoring_is_scaled(config):
    """What `modwatch report` sees after a compressed run: ignored requests are open (censored).

    Censored at (wall elapsed x time_scale), the Kaplan-Meier median agrees with
    the configured one (the latency's 83rd percentile, as 40 % are ignored);
    censored at the wall elapsed time, as an unscaled report would, it does not.
    """
    behaviour = config.platforms.platforms["telegram"]
    rng = random.Random("telegram-run")
    horizon_wall = 180.0  # a 3-minute demo
    time_scale = config.platforms.time_scale
    scaled, unscaled = [], []
    for _ in range(2000):
        ignored = rng.random() < behaviour.ignore_share
        latency = behaviour.latency.draw(rng)
        arrived = rng.uniform(0, horizon_wall / 2)  # requests arrive during the first half
        elapsed_wall = horizon_wall - arrived
        reported = not ignored and latency / time_scale <= elapsed_wall and latency <= 82800 + elapsed_wall
        scaled.append((latency, True) if reported else (elapsed_wall * time_scale, False))
        unscaled.append((latency, True) if reported else (elapsed_wall, False))
    expected = behaviour.expected_median_seconds()
    assert expected == pytest.approx(behaviour.latency.quantile(0.5 / 0.6))
    assert median_agrees(scaled, expected, confidence=CONFIDENCE).agrees
    assert not median_agrees(unscaled, expected, confidence=CONFIDENCE).agrees


def test_config_problems_are_reported_with_file_and_line(tmp_path):
    bad = (ROOT / "sim" / "config.yaml").read_text()
    bad = bad.replace("distribution: exponential, mean_seconds: 1200", "distribution: gamma, mean_seconds: 1200")
    bad = bad.replace("    violating: 0.06", "    violating: 0.96")
    path = tmp_path / "config.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as raised:
        sim.load_config(path)
    messages = "\n".join(raised.value.problems)
    assert f"{path}:" in messages
    assert "platforms.x.latency.distribution: 'gamma' is not one of" in messages
    assert "traffic.shares: add up to" in messages


def test_the_median_check_keeps_its_level_on_small_samples():
    # 2,000 samples of 10 removals from a distribution whose median is 120 s: at 99.9 %,
    # few should disagree. With Greenwood's error at the observed S alone, about 2 % did
    # (a sample with 1 of 10 removed by the median looks "certain").
    rng = random.Random(7)
    model = sim.LatencyModel("lognormal", median_seconds=120, sigma=0.8)
    disagreements = sum(
        not sim.median_agrees([(model.draw(rng), True) for _ in range(10)], 120).agrees for _ in range(2000)
    )
    assert disagreements / 2000 < 0.005
