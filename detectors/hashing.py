"""Image hashes: MD5, SHA-256 and Meta's PDQ, computed from untrusted bytes.

Every image a post carries is hostile until it decodes here. The flow for one
image is:

1. open it with Pillow, restricted to the formats platforms serve
   (:data:`IMAGE_FORMATS`), and read only its header;
2. refuse it when the header declares more than ``max_pixels`` pixels, before
   any pixel is decoded (a 40-byte PNG can declare 30000x30000 pixels:
   2.7 GB once decoded);
3. decode the first frame to 8-bit RGB, as python-threatexchange's
   ``pdq_hasher`` does (16-bit grey is clipped, grey-with-alpha and palettes
   are converted), a large JPEG at a reduced scale when asked
   (:data:`JPEG_DRAFT_SIDE`);
4. hash it with ``pdqhash`` (Meta's C++ PDQ), and, when the image has uniform
   borders, hash the trimmed copy too (:func:`unletterbox`);
5. optionally compute the 8 rotations and flips in the same pass
   (``pdqhash.compute_dihedral``), so a mirrored copy still matches.

A failure at any step is an :class:`UnreadableImage` with a reason from
:class:`~detectors.events.InvalidEvent`'s set, never any other exception:
Pillow's decoders raise a zoo of types (``OSError``, ``SyntaxError``,
``struct.error``, ``EOFError``...) on corrupt input.

PDQ hashes are 64 lowercase hex digits, most significant bit first, the
format ThreatExchange shares them in.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image, UnidentifiedImageError

BITS_IN_PDQ = 256
# ThreatExchange's PDQ_CONFIDENT_MATCH_THRESHOLD: at 31 differing bits of 256,
# Meta measured near-duplicates matching with a false-positive rate low enough to
# act on without a reviewer (pdq/README.md, "Matching").
PDQ_CONFIDENT_MATCH_THRESHOLD = 31
# python-threatexchange pdq_utils: a quality below 50 (flat, tiny or
# near-uniform images) is "too unreliable to match on": such hashes collide
# with many unrelated images.
PDQ_MIN_QUALITY = 50
# 50 megapixels is more than any phone camera writes by default (48 MP sensors
# bin to 12 MP), and decodes to 150 MB of RGB: the most one worker may hold
# for a single image. The event contract already caps the encoded size at 10 MiB.
MAX_IMAGE_PIXELS = 50_000_000
# A JPEG at least twice this long decodes at 1/2, 1/4 or 1/8 scale (libjpeg's DCT
# scaling), never below this. 512 is the smallest side that keeps every JPEG of the
# PDQ test images within 4 bits of its full-size hash (2 bits median; 256 drifts up
# to 14), and a 3200 px photo decodes and hashes 16x faster than at full size, 2.4x
# faster than at 1024 (bench/bench_decode_drift.py). PDQ averages the image down to
# 64x64 before its DCT, so detail finer than a 512 px rendering barely reaches the
# hash. PNG has no reduced decode, and reducing after decoding moved a hash 12 bits.
JPEG_DRAFT_SIDE = 512
# JPEG noise in a black letterbox reaches ~20 per channel; python-threatexchange's
# unletterboxing test needs a threshold of 25 to restore the exact original hash.
UNLETTERBOX_TOLERANCE = 25
# Formats platforms serve for still images. Restricting Pillow to them keeps
# its rarer decoders (PSD, EPS, ICNS...) away from hostile bytes. The JPEG
# decoder also opens the multi-picture JPEGs (MPO) phone cameras write.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")

# The order pdqhash.compute_dihedral returns, named as python-threatexchange's
# rotations (checked against its LA.png vectors in tests/test_hashing.py):
# rotate90 is counter-clockwise, flipx mirrors top to bottom, flipy left to
# right, flip_plus1 is the transpose and flip_minus1 the anti-transpose.
DIHEDRAL_TRANSFORMS = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)

HEX_LENGTHS = {"pdq": 64, "md5": 32, "sha256": 64}
_HEX = re.compile(r"[0-9a-f]+")


class UnreadableImage(ValueError):
    """Bytes that are not an image modwatch will hash.

    ``reason`` is ``invalid_value`` (not an image, corrupt, truncated, a format
    outside :data:`IMAGE_FORMATS`) or ``too_large`` (too many pixels): the
    reasons :class:`~detectors.events.InvalidEvent` counts in its metric.
    """

    def __init__(self, reason: str, message: str):
        self.reason = reason
        self.message = message
        super().__init__(message)


def normalise_hash(hash_type: str, value: str) -> str:
    """Lowercase hex of the right length for ``hash_type``, or ``ValueError`` quoting the value."""
    if hash_type not in HEX_LENGTHS:
        raise ValueError(f"{hash_type!r} is not a hash type ({', '.join(HEX_LENGTHS)})")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a valid {hash_type} hash ({HEX_LENGTHS[hash_type]} hex digits)")
    normalised = value.strip().lower()
    length = HEX_LENGTHS[hash_type]
    if len(normalised) != length or not _HEX.fullmatch(normalised):
        raise ValueError(f"{value[:80]!r} is not a valid {hash_type} hash ({length} hex digits)")
    return normalised


def hamming_distance(left: str, right: str) -> int:
    """Differing bits between two PDQ hashes in hex."""
    return (int(left, 16) ^ int(right, 16)).bit_count()


def pdq_hex(bits: np.ndarray) -> str:
    """pdqhash's 256 0/1 values -> 64 hex digits, first value as the most significant bit."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


@dataclass(frozen=True, slots=True)
class PDQHash:
    hash: str
    quality: int
    transform: str = "original"  # one of DIHEDRAL_TRANSFORMS
    unletterboxed: bool = False  # computed from the copy with its borders trimmed


@dataclass(frozen=True, slots=True)
class ImageHashes:
    md5: str
    sha256: str
    image_format: str
    width: int  # of the pixels hashed: a large JPEG may decode at a reduced scale
    height: int
    # Original orientation first. With unletterboxing, the trimmed copy's hashes
    # follow; with dihedral hashing, each copy has its 8 transforms in
    # DIHEDRAL_TRANSFORMS order.
    pdq: tuple[PDQHash, ...]
    # (left, top, right, bottom) of the content inside uniform borders, or None.
    content_box: tuple[int, int, int, int] | None = None

    @property
    def quality(self) -> int:
        return self.pdq[0].quality if self.pdq else 0


def decode_image(
    data: bytes, max_pixels: int = MAX_IMAGE_PIXELS, jpeg_draft_side: int | None = None
) -> tuple[np.ndarray, str]:
    """Decode ``data`` to an (height, width, 3) uint8 RGB array and its format name.

    With ``jpeg_draft_side``, a large JPEG decodes at a reduced scale whose
    longer side stays at least that long (see :data:`JPEG_DRAFT_SIDE`).
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 megapixels; our own, lower limit refuses these below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as error:
        raise UnreadableImage("too_large", f"declares too many pixels: {error}") from None
    except UnidentifiedImageError:
        raise UnreadableImage(
            "invalid_value",
            f"is not an image in a supported format ({', '.join(IMAGE_FORMATS)}); starts with {data[:8]!r}",
        ) from None
    except Exception as error:  # hostile bytes: any decoder failure is the input's fault
        raise UnreadableImage("invalid_value", f"cannot be read as an image: {_describe(error)}") from None
    with image:
        width, height = image.size
        image_format = image.format or "unknown"
        if width < 1 or height < 1:
            raise UnreadableImage("invalid_value", f"declares an empty {width}x{height} {image_format} image")
        if width * height > max_pixels:
            raise UnreadableImage(
                "too_large",
                f"declares {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            )
        longer = max(width, height)
        if jpeg_draft_side and longer >= 2 * jpeg_draft_side:
            # Does nothing for formats other than JPEG.
            image.draft(None, (-(-width * jpeg_draft_side // longer), -(-height * jpeg_draft_side // longer)))
        try:
            return _rgb_array(image), image_format
        except Exception as error:  # truncated or corrupt pixel data
            raise UnreadableImage(
                "invalid_value", f"is a {width}x{height} {image_format} that cannot be decoded: {_describe(error)}"
            ) from None


def _rgb_array(image: Image.Image) -> np.ndarray:
    image.load()
    if image.mode == "L":
        # Repeating the grey channel equals convert("RGB") and is cheaper.
        grey = np.asarray(image)
        return np.repeat(grey[:, :, np.newaxis], 3, axis=2)
    if image.mode != "RGB":
        # LA, RGBA, P, I;16, CMYK...: pdqhash takes 3 x 8-bit channels. Pillow clips
        # 16-bit grey as python-threatexchange's I16.png vector expects.
        image = image.convert("RGB")
    return np.asarray(image)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:200]


def unletterbox(pixels: np.ndarray, tolerance: int = UNLETTERBOX_TOLERANCE) -> tuple[int, int, int, int] | None:
    """The (left, top, right, bottom) box inside uniform borders, or None when there are none.

    A border row (or column) is one whose every pixel is within ``tolerance``
    per channel of the colour of the image's outermost row (or column) on that
    side. Top and bottom are trimmed first, then left and right within the
    remaining rows, so borders of different colours on different sides are
    each found. Any colour works, not only black: letterboxes are also white or
    blurred-grey. Unlike python-threatexchange's unletterboxing (black only,
    one Python call per pixel), this reads each border line once with numpy,
    from the outside in, and stops at the first content line.

    For a black border this equals python-threatexchange's ``black_threshold``
    rule (every channel <= tolerance) whenever the outermost line is pure black.
    """
    height, width = pixels.shape[:2]
    top = _border_depth(pixels, tolerance)
    if top == height:
        return None  # a uniform image has no content to trim to
    bottom = _border_depth(pixels[::-1], tolerance)
    rows = pixels[top : height - bottom]
    left = _border_depth(rows.transpose(1, 0, 2), tolerance)
    right = _border_depth(rows[:, ::-1].transpose(1, 0, 2), tolerance)
    if top == bottom == left == right == 0:
        return None
    return left, top, width - right, height - bottom


def _border_depth(pixels: np.ndarray, tolerance: int, chunk: int = 32) -> int:
    """How many leading rows of ``pixels`` are within ``tolerance`` of the first row's colour."""
    height = pixels.shape[0]
    colour = np.median(pixels[0], axis=0).astype(np.int16)
    low = np.clip(colour - tolerance, 0, 255).astype(np.uint8)
    high = np.clip(colour + tolerance, 0, 255).astype(np.uint8)
    depth = 0
    while depth < height:
        block = pixels[depth : depth + chunk]
        uniform = ((block >= low) & (block <= high)).all(axis=(1, 2))
        if not uniform.all():
            return depth + int(np.argmin(uniform))
        depth += len(block)
    return height


class ImageHasher:
    """Hashes image bytes with one configuration, remembering recent results.

    The stream shell validates a post's images (:meth:`hash_bytes` raising
    :class:`UnreadableImage`) before the detector hashes them again: the
    cache, keyed by the bytes' SHA-256, makes that second pass free. It holds
    only hashes, a few hundred bytes per image.
    """

    def __init__(
        self,
        *,
        max_pixels: int = MAX_IMAGE_PIXELS,
        unletterbox_tolerance: int | None = UNLETTERBOX_TOLERANCE,
        dihedral: bool = False,
        jpeg_draft_side: int | None = None,
        cache_size: int = 2048,
    ):
        self.max_pixels = max_pixels
        self.jpeg_draft_side = jpeg_draft_side
        self.unletterbox_tolerance = unletterbox_tolerance
        self.dihedral = dihedral
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, ImageHashes | UnreadableImage] = OrderedDict()

    def settings(self) -> dict:
        """What a hasher in another process needs to hash exactly as this one (:func:`hash_in_process`)."""
        return {
            "max_pixels": self.max_pixels,
            "unletterbox_tolerance": self.unletterbox_tolerance,
            "dihedral": self.dihedral,
            "jpeg_draft_side": self.jpeg_draft_side,
        }

    def prefetch(self, images: list[bytes], executor) -> int:
        """Hash the images not yet cached on ``executor`` (a process pool: decoding and
        PDQ hold the interpreter lock, so threads would not help), and cache the results;
        :meth:`hash_bytes` then finds them. Returns how many were hashed."""
        pending: dict[bytes, bytes] = {}
        for data in images:
            digest = hashlib.sha256(data).digest()
            if digest not in self._cache:
                pending.setdefault(digest, data)
        if not pending:
            return 0
        settings = self.settings()
        chunk = max(1, len(pending) // (4 * (getattr(executor, "_max_workers", 1) or 1)))
        outcomes = executor.map(hash_in_process, pending.values(), [settings] * len(pending), chunksize=chunk)
        for digest, outcome in zip(pending, outcomes):
            self._cache[digest] = outcome if isinstance(outcome, ImageHashes) else UnreadableImage(*outcome)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return len(pending)

    def warm(self, executor) -> int:
        """Start every process of ``executor`` and have each hash a tiny image (imports, decoders),
        so that the first real image does not wait for a process to start. Returns how many answered."""
        workers = getattr(executor, "_max_workers", 1) or 1
        settings = self.settings()
        image = _small_png()
        return sum(1 for _ in executor.map(hash_in_process, [image] * workers, [settings] * workers))

    def hash_bytes(self, data: bytes) -> ImageHashes:
        digest = hashlib.sha256(data).digest()
        cached = self._cache.get(digest)
        if cached is None:
            cached = self._hash_uncached(data, digest.hex())
            self._cache[digest] = cached
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(digest)
        if isinstance(cached, UnreadableImage):
            raise UnreadableImage(cached.reason, cached.message)
        return cached

    def _hash_uncached(self, data: bytes, sha256: str) -> ImageHashes | UnreadableImage:
        try:
            pixels, image_format = decode_image(data, self.max_pixels, self.jpeg_draft_side)
            box = None
            pdq = self.pdq_hashes(pixels)
            if self.unletterbox_tolerance is not None:
                box = unletterbox(pixels, self.unletterbox_tolerance)
                if box is not None:
                    # The original's hashes stay: an image whose uniform margins are
                    # its own (a meme on white) is banked untrimmed. The trimmed copy
                    # is hashed only when there is something to trim.
                    left, top, right, bottom = box
                    pdq += self.pdq_hashes(pixels[top:bottom, left:right], unletterboxed=True)
        except UnreadableImage as error:
            return error
        except Exception as error:  # pdqhash on a hostile but decodable image: still the input's fault
            return UnreadableImage("invalid_value", f"cannot be hashed: {_describe(error)}")
        height, width = pixels.shape[:2]
        return ImageHashes(
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            sha256=sha256,
            image_format=image_format,
            width=width,
            height=height,
            pdq=pdq,
            content_box=box,
        )

    def pdq_hashes(self, pixels: np.ndarray, *, unletterboxed: bool = False) -> tuple[PDQHash, ...]:
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        if self.dihedral:
            vectors, quality = pdqhash.compute_dihedral(pixels)
            return tuple(
                PDQHash(pdq_hex(vector), int(quality), transform, unletterboxed)
                for vector, transform in zip(vectors, DIHEDRAL_TRANSFORMS)
            )
        vector, quality = pdqhash.compute(pixels)
        return (PDQHash(pdq_hex(vector), int(quality), "original", unletterboxed),)


def pdq_from_bytes(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[str, int]:
    """PDQ hash and quality of an image, without unletterboxing: the reference computation."""
    pixels, _ = decode_image(data, max_pixels)
    vector, quality = pdqhash.compute(np.ascontiguousarray(pixels))
    return pdq_hex(vector), int(quality)


def _small_png() -> bytes:
    """A 64x64 grey PNG: what a pool's processes hash once when they start (ImageHasher.warm)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(out, format="PNG")
    return out.getvalue()


def hash_in_process(data: bytes, settings: dict) -> ImageHashes | tuple[str, str]:
    """:meth:`ImageHasher._hash_uncached` for a process pool: the hashes, or (reason,
    message) of an unreadable image (an exception with two arguments does not pickle)."""
    outcome = ImageHasher(**settings, cache_size=0)._hash_uncached(data, hashlib.sha256(data).hexdigest())
    return (outcome.reason, outcome.message) if isinstance(outcome, UnreadableImage) else outcome
