"""Model files: skops zip files, written byte-for-byte reproducibly, loaded only with a list of trusted types.

Both models, the text classifier (:mod:`detectors.classifier`) and the English
threat model (:mod:`detectors.threat_model`), are saved by :func:`save_model`
and read by :func:`load_trusted_bundle`, never with pickle: a file naming any
type outside skops' own trusted set and the caller's list is refused before
anything in it is constructed. Each model then checks the bundle's format and
version (:func:`check_format`) before using it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class ModelFileError(Exception):
    """A model file that cannot be used; the message names the file."""


def model_bytes(bundle: Mapping[str, Any]) -> bytes:
    """The skops file of ``bundle``, byte-for-byte the same for the same fitted objects.

    skops names arrays and memo entries after ``id()`` of the Python objects and
    stamps each zip entry with the current time, so two saves of equal models
    differ. Here ids are renumbered in order of appearance, array files are
    renamed after them, and every entry gets the same timestamp and mode; the
    result loads with ``skops.io.load`` like any skops file. Compression is
    zlib's deflate at level 9: stable for a given zlib, so rebuilding the shipped
    model on another zlib may change bytes but not the fitted numbers.
    """
    import skops.io

    raw = skops.io.dumps(dict(bundle))
    with zipfile.ZipFile(io.BytesIO(raw)) as source:
        schema = json.loads(source.read("schema.json"))
        contents = {name: source.read(name) for name in source.namelist() if name != "schema.json"}
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def renumber(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("__id__"), int):
                node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
            if isinstance(node.get("file"), str) and node["file"] in contents:
                suffix = Path(node["file"]).suffix
                node["file"] = files.setdefault(node["file"], f"{len(files) + 1:06d}{suffix}")
            for value in node.values():
                renumber(value)
        elif isinstance(node, list):
            for value in node:
                renumber(value)

    renumber(schema)
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as target:
        entries = [("schema.json", json.dumps(schema, indent=2).encode())]
        entries += sorted((new, contents[old]) for old, new in files.items())
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, data, compresslevel=9)
    return output.getvalue()


def save_model(bundle: Mapping[str, Any], path: Path) -> str:
    """Write ``bundle`` to ``path`` (same bytes for the same fitted model); returns the file's sha256."""
    data = model_bytes(bundle)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
    return hashlib.sha256(data).hexdigest()


def load_trusted_bundle(path: Path, trusted_types: Sequence[str]) -> tuple[Any, str]:
    """Read a skops file, refusing it before anything in it is built if it names a type
    outside skops' own trusted set and ``trusted_types``; returns the object and the file's sha256."""
    import skops.io

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelFileError(f"{path}: cannot be read: {error.strerror or error}") from None
    try:
        untrusted = [name for name in skops.io.get_untrusted_types(data=data) if name not in trusted_types]
    except Exception as error:  # a damaged zip or schema: say so, whatever skops raised
        raise ModelFileError(f"{path}: not a readable skops model file: {error}") from None
    if untrusted:
        raise ModelFileError(
            f"{path}: refusing to load: it contains types modwatch does not trust: {', '.join(untrusted)}"
        )
    try:
        bundle = skops.io.loads(data, trusted=list(trusted_types))
    except Exception as error:
        raise ModelFileError(f"{path}: cannot be loaded: {error}") from None
    return bundle, hashlib.sha256(data).hexdigest()


def check_format(bundle: Any, path: Path, model_format: str, version: int, kind: str) -> None:
    """Raise :class:`ModelFileError` unless ``bundle`` is a ``model_format`` bundle of ``version``.

    ``kind`` names the model in the message ("text-classifier model").
    """
    if not isinstance(bundle, dict) or bundle.get("format") != model_format:
        raise ModelFileError(f"{path}: not a modwatch {kind} (no format {model_format!r})")
    if bundle.get("format_version") != version:
        raise ModelFileError(f"{path}: format_version {bundle.get('format_version')!r} is not {version}")
