"""Web views for the live hash bank and watchlist, and a bank lookup.

``GET /bank``, ``GET /watchlist``    the entries added on the topics and not removed since
``POST /bank``, ``POST /watchlist``  one change: ``{"op": "add" | "remove", ...}`` with the
                                     fields of docs/events.md; 202 once the broker has it
``POST /match``                      ``{"hash_type", "hash"}`` or ``{"image_b64"}``: what the
                                     bank holds for it, nearest first, with each category

Every POST needs ``Authorization: Bearer <MODWATCH_API_TOKEN>`` (streams/access.py):
the two changes write to every worker's lists, and a lookup answers whether
an image would be matched, which is what someone testing ways around the
bank wants to know. A change is checked as the workers will check it
(detectors/live_lists.py, the same as ``modwatch bank`` and ``modwatch
watchlist``); a bad one is answered 400 with the field, and nothing is sent.
Any worker answers: every worker follows both topics whole.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

import orjson
from faust.web import View

from detectors.hashing import UnreadableImage
from detectors.live_lists import ChangeRefused, bank_addition, bank_removal, watchlist_addition, watchlist_removal
from streams.app import app
from streams.runtime import current
from streams.topics import hashbank_topic, watchlist_topic
from streams.web import token_refusal

MAX_CHANGE_BYTES = 64 * 1024
MAX_IMAGE_BODY_BYTES = 23 * 1024 * 1024  # a 16 MiB image as base64, as large as a post may carry


async def _body(view: View, request, limit: int):
    """(the JSON object sent, None) or (None, the answer refusing it)."""
    body = await request.read()
    if len(body) > limit:
        return None, view.json({"error": f"body is {len(body)} bytes; the limit is {limit}"}, status=413)
    try:
        sent = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return None, view.json({"error": f"not JSON: {error}"}, status=400)
    if not isinstance(sent, dict):
        return None, view.json({"error": "the body must be a JSON object"}, status=400)
    return sent, None


def _bank_change(sent: dict):
    op = sent.get("op")
    if op == "add":
        return bank_addition(sent.get("hash_type"), sent.get("hash"), sent.get("label"), sent.get("source"))
    if op == "remove":
        return bank_removal(sent.get("hash_type"), sent.get("hash"), sent.get("label"))
    raise ChangeRefused(f"op: {op!r} is not add or remove")


def _watchlist_change(sent: dict):
    op, platforms = sent.get("op"), current().pipeline.parser.platforms
    who = (sent.get("platform"), sent.get("account_id"), sent.get("handle"))
    if op == "add":
        return watchlist_addition(platforms, *who, sent.get("reason"), sent.get("source"))
    if op == "remove":
        return watchlist_removal(platforms, *who)
    raise ChangeRefused(f"op: {op!r} is not add or remove")


class _LiveList(View):
    topic_name: str
    topic = None
    build = None

    async def get(self, request):
        live = current().live_entries[self.topic_name]
        return self.json({"entries": [{"key": key, **record} for key, record in sorted(live.items())]})

    async def post(self, request):
        refused = token_refusal(self, request)
        if refused is not None:
            return refused
        sent, refused = await _body(self, request, MAX_CHANGE_BYTES)
        if refused is not None:
            return refused
        try:
            key, record = type(self).build(sent)
        except ChangeRefused as error:
            field, _, _ = str(error).partition(":")
            return self.json({"error": str(error), "field": field}, status=400)
        await (await self.topic.send(key=key, value=record))  # the broker has it when this answers
        return self.json({"accepted": True, "key": key, "op": record["op"]}, status=202)


@app.page("/bank")
class Bank(_LiveList):
    topic_name, topic, build = "hashbank", hashbank_topic, staticmethod(_bank_change)


@app.page("/watchlist")
class Watchlist(_LiveList):
    topic_name, topic, build = "watchlist", watchlist_topic, staticmethod(_watchlist_change)


@app.page("/match")
class Match(View):
    async def post(self, request):
        refused = token_refusal(self, request)
        if refused is not None:
            return refused
        sent, refused = await _body(self, request, MAX_IMAGE_BODY_BYTES)
        if refused is not None:
            return refused
        media = current().pipeline.media
        if media is None:
            return self.json({"error": "this worker has no hash bank (hashing.yaml)"}, status=404)
        try:
            if "image_b64" in sent:
                data = base64.b64decode(sent["image_b64"], validate=True)
                # Decoding and hashing take tens of milliseconds: off the event loop.
                matches = await asyncio.get_running_loop().run_in_executor(None, media.lookup_image, data)
            else:
                matches = media.lookup(sent.get("hash_type"), sent.get("hash"))
        except (binascii.Error, TypeError):
            return self.json({"error": "image_b64: not base64", "field": "image_b64"}, status=400)
        except UnreadableImage as error:
            return self.json({"error": f"image_b64: {error}", "field": "image_b64"}, status=400)
        except ValueError as error:
            field, _, _ = str(error).partition(":")
            return self.json({"error": str(error), "field": field}, status=400)
        return self.json({"matches": matches, "bank_digest": media.bank.digest})
