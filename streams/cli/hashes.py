"""``modwatch hash`` and ``modwatch hash-import``: image hashes and bank files from the shell.

``hash IMAGE...``          print each image's PDQ hash, PDQ quality, MD5 and SHA-256
``hash-import LIST...``    turn ThreatExchange-style PDQ lists into a config/hashbank/ file

Both are plain click commands; streams/cli/__init__.py registers them on ``modwatch``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from detectors.configfile import Problems
from detectors.hashbank import bank_csv, make_entry, read_pdq_list
from detectors.hashing import (
    MAX_IMAGE_PIXELS,
    PDQ_MIN_QUALITY,
    UNLETTERBOX_TOLERANCE,
    ImageHasher,
    UnreadableImage,
)
from streams.cli._options import output_option


@click.command("hash")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dihedral", is_flag=True, help="Also print the PDQ hashes of the 8 rotations and flips.")
@click.option(
    "--unletterbox",
    is_flag=True,
    help="Also print the PDQ hash of the image with uniform borders trimmed, when it has any.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image instead of text.")
@click.option(
    "--max-pixels",
    type=click.IntRange(1),
    default=MAX_IMAGE_PIXELS,
    show_default=True,
    help="Refuse images declaring more pixels than this (decompression bombs).",
)
def hash_images(images: tuple[Path, ...], dihedral: bool, unletterbox: bool, as_json: bool, max_pixels: int) -> None:
    """Print pdq, quality, md5 and sha256 of each IMAGE.

    The PDQ hash is Meta's (pdqhash), of the image as stored: no EXIF rotation,
    no border trimming unless --unletterbox. An image that cannot be read is
    reported on standard error and the others are still hashed; the exit
    status is then 1.
    """
    hasher = ImageHasher(
        max_pixels=max_pixels,
        unletterbox_tolerance=UNLETTERBOX_TOLERANCE if unletterbox else None,
        dihedral=dihedral,
        cache_size=0,
    )
    failed = False
    for path in images:
        try:
            data = path.read_bytes()
        except OSError as error:
            click.echo(f"modwatch hash: {path}: cannot be read: {error.strerror}", err=True)
            failed = True
            continue
        try:
            hashes = hasher.hash_bytes(data)
        except UnreadableImage as error:
            click.echo(f"modwatch hash: {path}: {error.message}", err=True)
            failed = True
            continue
        original = hashes.pdq[0]
        record = {
            "file": str(path),
            "pdq": original.hash,
            "quality": original.quality,
            "md5": hashes.md5,
            "sha256": hashes.sha256,
            "format": hashes.image_format,
            "width": hashes.width,
            "height": hashes.height,
        }
        if dihedral:
            record["dihedral"] = {hash.transform: hash.hash for hash in hashes.pdq if not hash.unletterboxed}
        if unletterbox:
            trimmed = [hash for hash in hashes.pdq if hash.unletterboxed]
            record["unletterboxed"] = (
                {"content_box": list(hashes.content_box), "pdq": trimmed[0].hash, "quality": trimmed[0].quality}
                if trimmed
                else None
            )
        if as_json:
            sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
        else:
            click.echo(_as_text(record))
    if failed:
        sys.exit(1)


def _as_text(record: dict) -> str:
    lines = [str(record["file"])]
    for name in ("pdq", "quality", "md5", "sha256"):
        lines.append(f"  {name:<8} {record[name]}")
    lines.append(f"  {'size':<8} {record['width']}x{record['height']} {record['format']}")
    for transform, value in record.get("dihedral", {}).items():
        lines.append(f"  {transform:<12} {value}")
    if "unletterboxed" in record:
        trimmed = record["unletterboxed"]
        if trimmed is None:
            lines.append("  unletterboxed: no uniform border")
        else:
            left, top, right, bottom = trimmed["content_box"]
            lines.append(
                f"  unletterboxed {trimmed['pdq']} quality {trimmed['quality']} (box {left},{top},{right},{bottom})"
            )
    return "\n".join(lines)


@click.command("hash-import")
@click.argument("lists", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--label", required=True, help="Label of every entry: the organisation or category that listed them.")
@click.option("--source", required=True, help="Where the list comes from; quoted in every finding's evidence.")
@output_option("Bank file to write, e.g. config/hashbank/gifct.csv (default: standard output).")
@click.option(
    "--min-quality",
    type=click.IntRange(0, 100),
    default=PDQ_MIN_QUALITY,
    show_default=True,
    help="Skip lines whose second field, the PDQ quality, is below this.",
)
def import_hash_list(lists: tuple[Path, ...], label: str, source: str, output: Path | None, min_quality: int) -> None:
    """Convert ThreatExchange-style PDQ lists into a bank CSV file.

    Each LIST has one hash per line, optionally followed by ",quality,..." as
    ThreatExchange's PDQ tools print them. Every bad line in every list is
    reported (file:line: field: problem) and nothing is written.
    """
    try:
        make_entry("pdq", "0" * 64, label, source)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    problems = Problems()
    hashes: dict[str, None] = {}
    skipped = 0
    for path in lists:
        found, low_quality = read_pdq_list(path, problems, min_quality)
        hashes.update(dict.fromkeys(found))
        skipped += low_quality
    if problems.messages:
        for message in problems.messages:
            click.echo(message, err=True)
        click.echo(f"modwatch hash-import: {len(problems.messages)} problem(s); nothing written", err=True)
        sys.exit(2)
    text = bank_csv(make_entry("pdq", value, label, source) for value in hashes)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    click.echo(
        f"modwatch hash-import: {len(hashes)} PDQ hashes"
        + (f", {skipped} skipped below quality {min_quality}" if skipped else "")
        + (f" -> {output}" if output else ""),
        err=True,
    )
