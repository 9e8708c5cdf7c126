"""Image hashing: Meta's PDQ reference vectors, robustness to edits, hostile bytes.

The images and expected hashes are ThreatExchange's, copied into tests/data/pdq/
(BSD licence, source commit in SOURCE_COMMIT.txt): the suite needs nothing outside
the repository.
"""

from __future__ import annotations

import base64
import csv
import io
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pdqhash
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from detectors.events import EventParser, InvalidEvent, Media, Post
from detectors.hashbank import HashBank, make_entry
from detectors.hashing import (
    DIHEDRAL_TRANSFORMS,
    PDQ_CONFIDENT_MATCH_THRESHOLD,
    ImageHasher,
    UnreadableImage,
    decode_image,
    hamming_distance,
    pdq_from_bytes,
    pdq_hex,
    unletterbox,
)
from detectors.media_hash import HashingConfig, MediaHashDetector

DATA = Path(__file__).resolve().parent / "data" / "pdq"
IMAGES = DATA / "images"
BRIDGE = IMAGES / "reg-test-input" / "dih" / "bridge-1-original.jpg"
PEN_AND_COASTER = IMAGES / "reg-test-input" / "pen-and-coaster.png"
C_PNG = IMAGES / "misc-images" / "c.png"
LETTERBOXED = IMAGES / "python-threatexchange-resources" / "letterboxed_sample-b.jpg"
# Three unrelated photos of at least 512 px, for the robustness tests.
ORIGINALS = {"bridge": BRIDGE, "pen-and-coaster": PEN_AND_COASTER, "c": C_PNG}
# Small images unrelated to the three above (LA.png and I16.png are synthetic patterns).
UNRELATED = [
    IMAGES / "python-threatexchange-resources" / name for name in ("rgb.jpeg", "LA.png", "I16.png", "random_image.png")
]


def read_csv(name: str) -> list[dict[str, str]]:
    with (DATA / "expected" / name).open(newline="") as file:
        return list(csv.DictReader(file))


def encode(image: Image.Image, image_format: str = "PNG", **options) -> bytes:
    if image_format == "PNG":
        options.setdefault("compress_level", 1)  # the test images are large: compress fast
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def post_with(*media: Media, post_id: str = "p-1") -> Post:
    return Post("x", post_id, "acct-1", datetime(2026, 11, 29, tzinfo=UTC), media=tuple(media))


# -- Reference vectors ------------------------------------------------------------

EXACT_ROWS = read_csv("python_threatexchange_exact.csv")


@pytest.mark.parametrize(
    "row", [row for row in EXACT_ROWS if row["match_rule"] == "exact"], ids=lambda row: Path(row["image"]).name
)
def test_pdq_hash_and_quality_equal_python_threatexchange(row):
    pdq, quality = pdq_from_bytes((DATA / row["image"]).read_bytes())
    assert pdq == row["expected_pdq_hex"]
    if row["expected_quality"]:
        assert quality == int(row["expected_quality"])


def test_letterboxed_sample_unletterboxes_to_the_exact_hash_of_the_original():
    [row] = [row for row in EXACT_ROWS if "black-threshold=25" in row["match_rule"]]
    pixels, _ = decode_image((DATA / row["image"]).read_bytes())
    left, top, right, bottom = unletterbox(pixels, tolerance=25)
    vector, _ = pdqhash.compute(np.ascontiguousarray(pixels[top:bottom, left:right]))
    assert pdq_hex(vector) == row["expected_pdq_hex"]


def test_letterbox_trimmed_only_where_pure_black_is_within_31_of_python_threatexchange():
    # python-threatexchange's CLI hashes this crop to a value 14 bits from ours
    # (its decode and crop path differ); both are far from the 144 bits of the
    # untrimmed image, so either matches the same bank entries.
    [row] = [row for row in EXACT_ROWS if "default black threshold" in row["match_rule"]]
    pixels, _ = decode_image((DATA / row["image"]).read_bytes())
    left, top, right, bottom = unletterbox(pixels, tolerance=0)
    vector, _ = pdqhash.compute(np.ascontiguousarray(pixels[top:bottom, left:right]))
    assert hamming_distance(pdq_hex(vector), row["expected_pdq_hex"]) <= PDQ_CONFIDENT_MATCH_THRESHOLD


def test_rotation_names_follow_python_threatexchange():
    # Named transforms of LA.png, hashed from transformed pixels, equal the
    # upstream vectors: this fixes what "rotate90" or "flipx" mean in evidence.
    transposes = {
        "ORIGINAL": None,
        "ROTATE90": Image.Transpose.ROTATE_90,
        "ROTATE180": Image.Transpose.ROTATE_180,
        "ROTATE270": Image.Transpose.ROTATE_270,
        "FLIPX": Image.Transpose.FLIP_TOP_BOTTOM,
        "FLIPY": Image.Transpose.FLIP_LEFT_RIGHT,
        "FLIPPLUS1": Image.Transpose.TRANSPOSE,
        "FLIPMINUS1": Image.Transpose.TRANSVERSE,
    }
    image = Image.open(IMAGES / "python-threatexchange-resources" / "LA.png").convert("RGB")
    rows = read_csv("python_threatexchange_LA_png_rotations.csv")
    assert [row["transform"].lower() for row in rows] == [name.replace("_", "") for name in DIHEDRAL_TRANSFORMS]
    for row in rows:
        transpose = transposes[row["transform"]]
        transformed = image if transpose is None else image.transpose(transpose)
        assert pdq_from_bytes(encode(transformed)) == (row["expected_pdq_hex"], 100), row["transform"]


@pytest.mark.parametrize("path", sorted((IMAGES / "reg-test-input" / "dih").glob("*.jpg")), ids=lambda path: path.stem)
def test_each_rotation_or_flip_of_the_bridge_matches_the_original_within_31_with_dihedral_hashing(path):
    hasher = ImageHasher(dihedral=True, unletterbox_tolerance=None)
    original = hasher.hash_bytes(BRIDGE.read_bytes())
    copy = hasher.hash_bytes(path.read_bytes())
    assert [hash.transform for hash in copy.pdq] == list(DIHEDRAL_TRANSFORMS)
    # Querying with the copy's 8 hashes finds the original...
    assert min(hamming_distance(hash.hash, original.pdq[0].hash) for hash in copy.pdq) <= PDQ_CONFIDENT_MATCH_THRESHOLD
    # ...and the original's hash for the transform the file is named after is the copy's.
    transform = path.stem.split("-", 2)[2].replace("-", "")  # bridge-7-flip-plus-1 -> flipplus1
    [named] = [hash for hash in original.pdq if hash.transform.replace("_", "") == transform]
    assert hamming_distance(named.hash, copy.pdq[0].hash) <= PDQ_CONFIDENT_MATCH_THRESHOLD


def test_pen_and_coaster_is_at_least_100_bits_from_the_bridge():
    bridge, _ = pdq_from_bytes(BRIDGE.read_bytes())
    pen_and_coaster, _ = pdq_from_bytes(PEN_AND_COASTER.read_bytes())
    assert hamming_distance(bridge, pen_and_coaster) >= 100


def test_cpp_reference_hashes_of_the_bridge_are_within_a_few_bits():
    # The C++ hasher decodes JPEG with ImageMagick, not libjpeg through Pillow:
    # the same algorithm on slightly different pixels.
    hasher = ImageHasher(unletterbox_tolerance=None)
    for row in read_csv("cpp_README_example_bridge_dih.csv"):
        ours = hasher.hash_bytes((DATA / row["image"]).read_bytes()).pdq[0].hash
        assert hamming_distance(ours, row["expected_pdq_hex"]) <= 16, row["image"]


def test_large_jpeg_decodes_at_reduced_scale_within_a_few_bits_of_full_size():
    large = encode(Image.open(BRIDGE).resize((3200, 2008), Image.Resampling.LANCZOS), "JPEG", quality=90)
    full = ImageHasher(unletterbox_tolerance=None).hash_bytes(large)
    reduced = ImageHasher(unletterbox_tolerance=None, jpeg_draft_side=1024).hash_bytes(large)
    assert (full.width, reduced.width) == (3200, 1600)
    assert hamming_distance(full.pdq[0].hash, reduced.pdq[0].hash) <= 8
    # At 1600 px the bridge is below twice the side: decoded at full size, hashed exactly.
    assert ImageHasher(jpeg_draft_side=1024).hash_bytes(BRIDGE.read_bytes()).width == 1600


# -- Robustness ---------------------------------------------------------------------


def edits(image: Image.Image) -> dict[str, Image.Image]:
    width, height = image.size
    rgb = image.convert("RGB")
    with_text = rgb.copy()
    font = ImageFont.load_default(size=max(12, height // 20))
    ImageDraw.Draw(with_text).text(
        (width // 20, height - height // 8),
        "modwatch test overlay",
        fill="white",
        font=font,
        stroke_width=2,
        stroke_fill="black",
    )
    border_x, border_y = width // 20, height // 20
    letterboxed = Image.new("RGB", (width + 2 * border_x, height + 2 * border_y), "black")
    letterboxed.paste(rgb, (border_x, border_y))
    return {
        "resize_50_percent": rgb.resize((width // 2, height // 2), Image.Resampling.LANCZOS),
        "jpeg_quality_30": Image.open(io.BytesIO(encode(rgb, "JPEG", quality=30))),
        "grayscale": rgb.convert("L"),
        "brightness_plus_20_percent": ImageEnhance.Brightness(rgb).enhance(1.2),
        "brightness_minus_20_percent": ImageEnhance.Brightness(rgb).enhance(0.8),
        "gaussian_blur_1px": rgb.filter(ImageFilter.GaussianBlur(1)),
        "text_overlay": with_text,
        "black_border_5_percent": letterboxed,
    }


@pytest.fixture(scope="module")
def robustness_detector() -> MediaHashDetector:
    hasher = ImageHasher(unletterbox_tolerance=None)
    bank = HashBank(
        make_entry("pdq", hasher.hash_bytes(path.read_bytes()).pdq[0].hash, name, "test original")
        for name, path in ORIGINALS.items()
    )
    return MediaHashDetector(bank, HashingConfig(match_rotations=False))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ORIGINALS))
def test_edited_copies_match_their_original_within_31_and_nothing_else(name, robustness_detector):
    image = Image.open(ORIGINALS[name])
    assert min(image.size) >= 512
    copies = edits(image)
    posts = [post_with(Media("image", data=encode(copy)), post_id=edit) for edit, copy in copies.items()]
    for edit, findings in zip(copies, robustness_detector.detect(posts)):
        assert [finding.evidence["label"] for finding in findings] == [name], edit
        assert findings[0].evidence["distance"] <= PDQ_CONFIDENT_MATCH_THRESHOLD
        assert findings[0].score >= 0.8


def test_five_percent_border_matches_only_thanks_to_unletterboxing(robustness_detector):
    image = Image.open(BRIDGE)
    letterboxed = encode(edits(image)["black_border_5_percent"])
    [[finding]] = robustness_detector.detect([post_with(Media("image", data=letterboxed))])
    assert finding.evidence["unletterboxed"] is True
    plain = ImageHasher(unletterbox_tolerance=None).hash_bytes(letterboxed).pdq[0].hash
    assert hamming_distance(plain, finding.evidence["hash"]) > 2 * PDQ_CONFIDENT_MATCH_THRESHOLD


def test_unrelated_images_match_nothing(robustness_detector):
    posts = [post_with(Media("image", data=path.read_bytes()), post_id=path.name) for path in UNRELATED]
    assert robustness_detector.detect(posts) == [[] for _ in posts]


def test_white_and_grey_borders_are_trimmed_too():
    pixels, _ = decode_image(PEN_AND_COASTER.read_bytes())
    for colour in ((255, 255, 255), (128, 128, 128)):
        framed = np.full((pixels.shape[0] + 80, pixels.shape[1] + 60, 3), colour, dtype=np.uint8)
        framed[40:-40, 30:-30] = pixels
        left, top, right, bottom = unletterbox(framed)
        # The photo's own near-uniform edge may go too: never more than a few pixels.
        assert abs(left - 30) <= 10 and abs(top - 40) <= 10
        assert abs(right - (framed.shape[1] - 30)) <= 10 and abs(bottom - (framed.shape[0] - 40)) <= 10


def test_uniform_image_has_nothing_to_unletterbox():
    assert unletterbox(np.zeros((50, 80, 3), dtype=np.uint8)) is None


def test_crops_escape_pdq_and_a_bank_of_central_crops_catches_only_even_ones():
    """What cropping does to PDQ (threshold 31): why the bank does not claim to match cropped copies.

    Even a 2 % crop on every side moves the hash past the threshold. A bank that
    also held central crops of each source (2.5 % steps) would catch crops taken
    evenly from every side, but not those taken from one or two sides.
    """
    from detectors.hashing import PDQ_CONFIDENT_MATCH_THRESHOLD as PDQ_MATCH_THRESHOLD

    hasher = ImageHasher(unletterbox_tolerance=None)
    for name, path in ORIGINALS.items():
        image = Image.open(path).convert("RGB")
        width, height = image.size

        def crop(fraction: float, sides: str = "lrtb") -> Image.Image:
            dx, dy = int(width * fraction), int(height * fraction)
            return image.crop(
                (
                    dx if "l" in sides else 0,
                    dy if "t" in sides else 0,
                    width - dx if "r" in sides else width,
                    height - dy if "b" in sides else height,
                )
            )

        def pdq(copy: Image.Image) -> str:
            return hasher.pdq_hashes(np.asarray(copy))[0].hash

        original = pdq(image)
        augmented = [original] + [pdq(crop(step / 1000)) for step in (25, 50, 75, 100)]
        for label, copy, even in (
            ("2% each side", crop(0.02), True),
            ("4% each side", crop(0.04), True),
            ("5% each side", crop(0.05), True),
            ("6% each side", crop(0.06), True),
            ("5% left only", crop(0.05, "l"), False),
            ("5% top+left", crop(0.05, "tl"), False),
        ):
            query = pdq(copy)
            assert hamming_distance(query, original) > PDQ_MATCH_THRESHOLD, (name, label)
            nearest = min(hamming_distance(query, known) for known in augmented)
            assert (nearest <= PDQ_MATCH_THRESHOLD) == even, (name, label, nearest)


# -- Hostile bytes ---------------------------------------------------------------------


def png_declaring(width: int, height: int, pixel_data: bytes | None = None) -> bytes:
    """A tiny PNG whose header declares width x height grey pixels, with one row of data (or ``pixel_data``)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1)) if pixel_data is None else pixel_data)
        + chunk(b"IEND", b"")
    )


def small_image(image_format: str) -> bytes:
    image = Image.open(BRIDGE).convert("RGB").resize((200, 125))
    return encode(image, image_format)


HOSTILE = {
    "declares_30000x30000_pixels": (png_declaring(30000, 30000), "too_large"),
    "declares_10000x8000_pixels": (png_declaring(10000, 8000), "too_large"),
    "random_bytes": (bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8)), "invalid_value"),
    "empty": (b"", "invalid_value"),
    "text": (b"<html><body>not an image</body></html>", "invalid_value"),
    "truncated_jpeg": (BRIDGE.read_bytes()[:50_000], "invalid_value"),
    "png_with_a_broken_zlib_stream": (png_declaring(64, 64, b"\x78\x9c" + bytes(range(200))), "invalid_value"),
    "png_without_pixel_data": (png_declaring(64, 64, b""), "invalid_value"),
    "photoshop_file": (b"8BPS\x00\x01" + b"\x00" * 200, "invalid_value"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_validation_rejects_undecodable_or_oversized_image_with_reason_and_field(name):
    data, reason = HOSTILE[name]
    detector = MediaHashDetector(HashBank([make_entry("md5", "0" * 32, "x", "test")]))
    post = post_with(Media("image", md5="1" * 32), Media("image", data=data))
    with pytest.raises(InvalidEvent) as raised:
        detector.validate(post)
    assert (raised.value.reason, raised.value.field) == (reason, "media[1].data_b64")
    assert detector.detect([post]) == [[]]


def test_decompression_bomb_message_quotes_the_declared_size():
    with pytest.raises(UnreadableImage, match=r"declares 10000x8000 = 80000000 pixels; the limit is 50000000"):
        ImageHasher().hash_bytes(png_declaring(10000, 8000))


def test_bomb_posted_as_json_is_rejected_after_parsing():
    parser = EventParser({"x"}, clock=lambda: datetime(2026, 11, 29, tzinfo=UTC))
    record = {
        "platform": "x",
        "post_id": "1",
        "account_id": "a",
        "posted_at": "2026-11-28T10:00:00Z",
        "media": [{"kind": "image", "data_b64": base64.b64encode(png_declaring(30000, 30000)).decode()}],
    }
    post = parser.post(orjson.dumps(record))
    with pytest.raises(InvalidEvent) as raised:
        MediaHashDetector(HashBank()).validate(post)
    assert raised.value.reason == "too_large"
    assert str(raised.value).startswith("media[0].data_b64: declares too many pixels")


def test_md5_that_contradicts_the_image_is_rejected():
    data = small_image("PNG")
    with pytest.raises(InvalidEvent) as raised:
        MediaHashDetector(HashBank()).validate(post_with(Media("image", md5="0" * 32, data=data)))
    assert (raised.value.reason, raised.value.field) == ("invalid_value", "media[0].md5")


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_detect_never_raises_on_damaged_images(image_format):
    original = small_image(image_format)
    rng = np.random.default_rng(zlib.crc32(image_format.encode()))
    detector = MediaHashDetector(HashBank([make_entry("pdq", "0" * 64, "x", "test")]))
    posts = []
    for number in range(40):
        damaged = bytearray(original)
        for position in rng.integers(0, len(damaged), size=int(rng.integers(1, 20))):
            damaged[position] = int(rng.integers(0, 256))
        if number % 4 == 0:
            damaged = damaged[: int(rng.integers(1, len(damaged)))]
        posts.append(post_with(Media("image", data=bytes(damaged)), post_id=str(number)))
    assert len(detector.detect(posts)) == len(posts)
    for post in posts:
        try:
            detector.validate(post)
        except InvalidEvent as error:
            assert error.reason in {"invalid_value", "too_large"}


def test_validation_result_is_reused_by_detect():
    detector = MediaHashDetector(HashBank([make_entry("pdq", "0" * 64, "x", "test")]))
    post = post_with(Media("image", data=BRIDGE.read_bytes()))
    detector.validate(post)
    calls = []
    original = detector.hasher._hash_uncached
    detector.hasher._hash_uncached = lambda *args: calls.append(args) or original(*args)
    detector.detect([post])
    assert calls == []


def test_the_default_draft_side_keeps_a_photo_within_4_bits_of_its_full_size_hash():
    # JPEG_DRAFT_SIDE (512) is the smallest side that keeps the PDQ test images' JPEGs
    # within 4 bits (bench/bench_decode_drift.py): the 1600 px bridge decodes at 800 px.
    from detectors.hashing import JPEG_DRAFT_SIDE

    full = ImageHasher(unletterbox_tolerance=None).hash_bytes(BRIDGE.read_bytes())
    reduced = ImageHasher(unletterbox_tolerance=None, jpeg_draft_side=JPEG_DRAFT_SIDE).hash_bytes(BRIDGE.read_bytes())
    assert (full.width, reduced.width) == (1600, 800)
    assert hamming_distance(full.pdq[0].hash, reduced.pdq[0].hash) <= 4


def test_images_hashed_in_a_process_pool_are_the_ones_hashed_here():
    # ImageHasher.prefetch hashes on another process and fills the cache; hash_bytes then
    # answers from it, the same hashes, and the same refusal for bytes that are no image.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    images = [BRIDGE.read_bytes(), C_PNG.read_bytes(), b"not an image at all"]
    here = ImageHasher(dihedral=True, jpeg_draft_side=512)
    expected = [here.hash_bytes(data) for data in images[:2]]
    pooled = ImageHasher(dihedral=True, jpeg_draft_side=512)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pooled.prefetch(images + images[:1], pool) == 3  # the repeat is hashed once
        assert pooled.prefetch(images, pool) == 0  # all cached now
    assert [pooled.hash_bytes(data) for data in images[:2]] == expected
    with pytest.raises(UnreadableImage) as refused:
        pooled.hash_bytes(images[2])
    assert refused.value.reason == "invalid_value"
