"""The outbox: a signed notice and its HTML page, written as files for someone to file by hand.

For portals that take no webhook, :func:`write_outbox` writes
``<request_id>.json`` (the signed notice, takedowns/notice.py) and
``<request_id>.html`` (the page a person reads) into the platform's folder.
Each file is written in one step (a temporary file, synced, then renamed), so
a reader never sees half a notice; the JSON is written once per request id,
so a repeated delivery keeps the first notice and the time it was prepared.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from takedowns.notice import notice_document, render_notice_html

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.~-]{0,199}")


def safe_request_id(request_id: Any) -> str:
    if not isinstance(request_id, str) or not REQUEST_ID_PATTERN.fullmatch(request_id):
        raise ValueError(f"request_id {request_id!r} cannot name a file (letters, digits, '-', '_', '.', '~')")
    return request_id


def _write_atomically(folder: Path, name: str, data: bytes, *, exclusive: bool) -> bool:
    """Write ``folder/name`` in one step: a temporary file in the same folder, then renamed.

    ``exclusive``: keep an existing file (hard link, which fails if the name
    is taken) and return False; otherwise replace it. Readers never see a
    half-written file.
    """
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        target = folder / name
        if not exclusive:
            os.replace(temporary, target)
            return True
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
        except OSError:
            # A filesystem without hard links: check, then rename (not atomic against a second writer).
            if target.exists():
                return False
            os.replace(temporary, target)
        return True
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
        _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # not every filesystem syncs a directory; the files themselves are synced
    finally:
        os.close(descriptor)


def write_outbox(folder: Path, request: Mapping[str, Any], secret: bytes | None, timestamp: float) -> dict:
    """Write the notice once per request id and return the notice that is on disk.

    The JSON file is created only if absent, so the first notice written for
    a request id stays (with its ``prepared_at``); the HTML page is rewritten
    from that notice's request when it is missing or differs, which repairs a
    crash between the two writes.
    """
    request_id = safe_request_id(request.get("request_id"))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o750)
    json_path = folder / f"{request_id}.json"
    if json_path.exists():
        notice = orjson.loads(json_path.read_bytes())
    else:
        notice = notice_document(request, secret, timestamp)
        if not _write_atomically(
            folder, json_path.name, orjson.dumps(notice, option=orjson.OPT_INDENT_2), exclusive=True
        ):
            notice = orjson.loads(json_path.read_bytes())  # another writer got there first: theirs stands
    page = render_notice_html(notice["request"]).encode("utf-8")
    html_path = folder / f"{request_id}.html"
    if not html_path.exists() or html_path.read_bytes() != page:
        _write_atomically(folder, html_path.name, page, exclusive=False)
    return notice
