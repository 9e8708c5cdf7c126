"""What a reviewer sees of a flagged post (detectors/review_context.py): bounded text, thumbnails."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

from PIL import Image

from detectors.events import Media, Post
from detectors.review_context import TEXT_CHARS, THUMBNAIL_SIDE, THUMBNAILS, review_context, thumbnail
from tests.conftest import ROOT

BRIDGE = ROOT / "tests" / "data" / "pdq" / "images" / "reg-test-input" / "dih" / "bridge-1-original.jpg"


def test_a_thumbnail_is_a_small_jpeg_of_the_image():
    url = thumbnail(BRIDGE.read_bytes())
    assert url.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.format == "JPEG" and max(image.size) == THUMBNAIL_SIDE
    assert len(url) < 20_000
    assert thumbnail(b"not an image") is None


def test_the_context_is_bounded_whatever_the_post():
    data = BRIDGE.read_bytes()
    post = Post(
        platform="x",
        post_id="1",
        account_id="a",
        posted_at=datetime(2026, 11, 29, tzinfo=UTC),
        text="ب" * (TEXT_CHARS * 3),
        lang="ur",
        account_handle="@someone",
        media=tuple(Media(kind="image", data=data, pdq="f" * 64) for _ in range(THUMBNAILS + 2)),
    )
    context = review_context(post)
    assert len(context["text"]) == TEXT_CHARS and context["text_chars"] == TEXT_CHARS * 3
    assert (context["lang"], context["account_handle"]) == ("ur", "@someone")
    assert [bool(media.get("thumbnail")) for media in context["media"]] == [True] * THUMBNAILS + [False, False]
    assert all(media["pdq"] == "f" * 64 for media in context["media"])
