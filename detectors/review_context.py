"""What a reviewer sees of a flagged post: its text, language, author handle and media.

The scan stage adds this to a flagged item (``Pipeline.flagged``); the item's state keeps it
(takedowns/lifecycle.py ``on_flagged``) for the review console. It never goes into a takedown
request, the ledger or an export. Sizes are bounded whatever the post: the text is cut at
:data:`TEXT_CHARS` (evidence offsets beyond it are shown without their highlight), and each
inline image becomes a small JPEG thumbnail, at most :data:`THUMBNAILS` a post.
"""

from __future__ import annotations

import base64
import io

from detectors.events import Post
from detectors.hashing import UnreadableImage, decode_image

TEXT_CHARS = 4000
THUMBNAILS = 4
THUMBNAIL_SIDE = 160


def review_context(post: Post) -> dict:
    return {
        "text": post.text[:TEXT_CHARS],
        "text_chars": len(post.text),
        "lang": post.lang,
        "account_handle": post.account_handle,
        "media": [_media(media, index) for index, media in enumerate(post.media)],
    }


def _media(media, index: int) -> dict:
    described = {"index": index, "kind": media.kind, "pdq": media.pdq, "sha256": media.sha256, "md5": media.md5}
    if media.data is not None and index < THUMBNAILS:
        described["thumbnail"] = thumbnail(media.data)
    return described


def thumbnail(data: bytes) -> str | None:
    """A data URL of a JPEG at most :data:`THUMBNAIL_SIDE` pixels a side; None if the image cannot be read
    (the scan dead-letters or flags unreadable images on its own)."""
    from PIL import Image

    try:
        pixels, _ = decode_image(data, jpeg_draft_side=THUMBNAIL_SIDE)
    except UnreadableImage:
        return None
    image = Image.fromarray(pixels)
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")
