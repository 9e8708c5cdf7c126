"""Media hash matching on the real broker: bank matches, live bank changes, the re-upload loop."""

from __future__ import annotations

import base64
import io
import shutil
import time
from datetime import datetime, timedelta

import orjson
import pytest
from PIL import Image, ImageDraw

from detectors.hashing import ImageHasher
from tests.conftest import ROOT, consume, post, produce

pytestmark = pytest.mark.slow  # left out of `make check` (seconds each); `make test` runs it


IMAGES = ROOT / "tests" / "data" / "pdq" / "images"
VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"


def jpeg(path, side=512, rotate=0) -> bytes:
    """A small JPEG of a test image (messages stay far below the broker's size limit)."""
    image = Image.open(path).convert("RGB")
    image.thumbnail((side, side))
    if rotate:
        image = image.rotate(rotate, expand=True)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def drawing(seed: int) -> bytes:
    image = Image.new("RGB", (512, 512), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for n in range(12):
        x, y = (seed * 97 + n * 53) % 400, (seed * 31 + n * 71) % 400
        draw.ellipse((x, y, x + 60 + n * 7, y + 40 + n * 5), fill=((n * 40 + seed * 13) % 255, (n * 90) % 255, 120))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def pdq_of(data: bytes) -> str:
    return ImageHasher().hash_bytes(data).pdq[0].hash


def image_post(platform, post_id, data: bytes, text="", **extra):
    media = [{"kind": "image", "data_b64": base64.b64encode(data).decode()}]
    return post(platform, post_id, text, media=media, **extra)


@pytest.fixture
def bank_env(worker_env, tmp_path):
    """The shipped config plus a bank entry whose label maps to terrorism_promotion."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    bridge = jpeg(IMAGES / "reg-test-input" / "dih" / "bridge-1-original.jpg")
    (config / "hashbank" / "test-propaganda.csv").write_text(
        f"hash_type,hash,label,source\npdq,{pdq_of(bridge)},test-propaganda,test bank\n"
    )
    return dict(worker_env, MODWATCH_CONFIG_DIR=str(config))


@pytest.mark.kafka
def test_bank_match_live_bank_change_and_reupload_loop(bank_env, start_worker, kafka_bootstrap):
    env = bank_env
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    start_worker(env)

    # 1. A rotated copy of a banked image: a request whose evidence names the entry and distance.
    rotated = jpeg(IMAGES / "reg-test-input" / "dih" / "bridge-1-original.jpg", rotate=90)
    produce(kafka_bootstrap, f"{prefix}.posts", [image_post("x", "banked", rotated)])
    [(key, request)] = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=1, settle=0.5)
    # The shipped example bank holds the same photo under a never-actioned test label.
    finding = next(item for item in request["evidence"] if item["category"] == "terrorism_promotion")
    assert key == "x:banked" and finding["detector"] == "media_hash"
    assert finding["evidence"]["label"] == "test-propaganda" and finding["evidence"]["source"] == "test bank"
    assert finding["evidence"]["distance"] <= 31 and finding["evidence"]["hash_type"] == "pdq"

    # 2. A bank add on the topic: a later post matches, no restart.
    live = drawing(1)
    change = {
        "op": "add",
        "hash_type": "pdq",
        "hash": pdq_of(live),
        "label": "live-add",
        "source": "analyst-7",
        "at": "2026-11-29T10:00:00Z",
    }
    produce(
        kafka_bootstrap,
        f"{prefix}.hashbank",
        [(f"pdq:{change['hash']}".encode(), orjson.dumps(change)), (b"pdq:bad", b'{"op": "add", "hash_type": "pdq"}')],
    )
    time.sleep(3)
    produce(kafka_bootstrap, f"{prefix}.posts", [image_post("tiktok", "live", live)])
    requests = dict(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=2, settle=0.5))
    live_findings = [
        item["evidence"] for item in requests["tiktok:live"]["evidence"] if item["detector"] == "media_hash"
    ]
    assert [found["source"] for found in live_findings] == ["analyst-7"]
    dead = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=1, settle=0.5)
    assert [(letter["reason"], letter["field"]) for _, letter in dead] == [("missing_field", "hash")]

    # 3. Re-upload loop: text gets A taken down; once removed, A's image is caught on telegram.
    unseen = drawing(2)
    produce(kafka_bootstrap, f"{prefix}.posts", [image_post("x", "original", unseen, text=VIOLATING)])
    requests = dict(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=3, settle=0.5))
    original = requests["x:original"]
    removed_at = datetime.fromisoformat(original["requested_at"]) + timedelta(seconds=5)
    status = {
        "platform": "x",
        "post_id": "original",
        "status": "removed",
        "observed_at": removed_at.isoformat(),
        "source": "test",
    }
    produce(kafka_bootstrap, f"{prefix}.platform-status", [(b"x:original", orjson.dumps(status))])
    time.sleep(3)
    produce(kafka_bootstrap, f"{prefix}.posts", [image_post("telegram", "reupload", unseen, text="look at this")])
    requests = dict(consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=4, settle=0.5))
    evidence = [
        item["evidence"] for item in requests["telegram:reupload"]["evidence"] if item["detector"] == "media_hash"
    ]
    assert evidence and evidence[0]["source"] == f"confirmed:{original['request_id']}"


@pytest.mark.kafka
def test_undecodable_and_bomb_images_go_to_the_dead_letter(worker_env, start_worker, kafka_bootstrap):
    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")  # 400 MP of one bit: a few kilobytes compressed
    produce(
        kafka_bootstrap,
        f"{prefix}.posts",
        [
            image_post("x", "garbage", b"\x89PNG\r\n\x1a\nnot really an image"),
            image_post("x", "bomb", bomb.getvalue()),
        ],
    )
    dead = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=2, settle=0.5)
    assert sorted((letter["reason"], letter["field"]) for _, letter in dead) == [
        ("invalid_value", "media[0].data_b64"),
        ("too_large", "media[0].data_b64"),
    ]
    assert worker.alive()


@pytest.mark.kafka
def test_a_post_near_the_10_mib_image_limit_passes_through_the_broker(worker_env, start_worker, kafka_bootstrap):
    # 8 MiB of noise: too big for Kafka's 1 MiB default, within the contract; not an image, so
    # it must come out as a dead letter that names it, not vanish at the broker or the worker.
    import os

    prefix = worker_env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker()
    produce(kafka_bootstrap, f"{prefix}.posts", [image_post("x", "huge", os.urandom(8 * 1024 * 1024))])
    [(_, letter)] = consume(kafka_bootstrap, f"{prefix}.deadletter", expect=1, settle=0.5)
    assert (letter["reason"], letter["field"], letter["raw_truncated"]) == ("invalid_value", "media[0].data_b64", True)
    assert letter["raw_bytes"] > 10 * 1024 * 1024  # base64 of 8 MiB, plus the JSON around it
    assert worker.alive()


def test_scan_decides_image_posts_like_the_worker(bank_env, tmp_path):
    """`modwatch scan` hashes data_b64 images against the same bank, with the same result."""
    import subprocess
    import sys

    rotated = jpeg(IMAGES / "reg-test-input" / "dih" / "bridge-1-original.jpg", rotate=90)
    lines = [image_post("x", "banked", rotated)[1], image_post("x", "garbage", b"\x89PNG\r\n\x1a\nnope")[1]]
    posts = tmp_path / "posts.jsonl"
    posts.write_bytes(b"\n".join(lines) + b"\n")
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "scan", str(posts), "--config", bank_env["MODWATCH_CONFIG_DIR"]],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    [decision] = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert (decision["post_id"], decision["action"]) == ("banked", "takedown")
    finding = next(item for item in decision["findings"] if item["category"] == "terrorism_promotion")
    assert finding["detector"] == "media_hash" and finding["evidence"]["label"] == "test-propaganda"
    assert f"{posts}:2: invalid_value: media[0].data_b64" in result.stderr.decode()
