"""Web views on the worker's port: metrics, health, takedowns, reviews, decisions.

``GET /takedowns/{request_id}`` is routed to the worker that owns the item
(request ids name their item, detectors/pipeline.py). The list views
(``/takedowns``, ``/reviews``, ``/scoreboard``) answer from this worker's
partitions; with several workers, ``modwatch report`` (which reads the ledger)
is the view of the whole system.

``POST /decisions`` needs ``Authorization: Bearer <MODWATCH_API_TOKEN>``
(streams/access.py); a decision for an item this system never flagged is
answered 404. ``POST /status`` takes platform callbacks signed with the
platform's delivery secret, each good once. Both are handled by the worker
that owns the item (forwarded there with their body), so the item's state
and the callbacks already seen are in one place.

Faust's own ``/table`` and ``/router`` views are off (streams/app.py): they
would show item state without authentication.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import time
from datetime import UTC, datetime

import orjson
from faust.exceptions import SameNode
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.web import View

from detectors.events import InvalidEvent
from streams import access, faust_sensor
from streams.app import app, settings
from streams.runtime import BROKER_PROBE_SECONDS, BROKER_PROBE_TIMEOUT_SECONDS, current, decision_item_key
from streams.tables import account_to_state, campaign_to_state, item_to_state, post_to_alert
from streams.topics import decisions_topic, platform_status_topic
from takedowns import compliance, lifecycle
from takedowns.requests import item_key_of_request
from takedowns.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify

# /metrics: Faust's own sensor metrics and modwatch's (streams/metrics.py) from
# the default registry, on one endpoint.
setup_prometheus_sensors(app, pattern="/metrics", name_prefix="modwatch_faust")
faust_sensor.install(app)

MAX_BODY_BYTES = 64 * 1024
# simulator runs compress platform time by at most this much (takedowns/compliance.py observations)
MAX_TIME_SCALE = 1_000_000.0
FORWARDED_HEADER = "X-Modwatch-Forwarded"
log = logging.getLogger("modwatch.web")


def token_refusal(view: View, request):
    """401 unless the request carries the bearer token (streams/access.py); None when it does."""
    if access.bearer_allowed(request.headers.get("Authorization", ""), os.environ):
        return None
    if not access.api_token(os.environ):
        return view.json({"error": f"writes are off: this worker has no {access.TOKEN_VARIABLE}"}, status=401)
    return view.json({"error": "missing or wrong bearer token"}, status=401)


async def forward_to_owner(view: View, table, key: str, request, body: bytes):
    """The owner's answer when another worker owns ``key`` in ``table``; None when this one does.

    Faust's ``route_req`` forwards the method and headers but not the body, so
    writes are forwarded here. A forwarded request is never forwarded again.
    """
    if request.headers.get(FORWARDED_HEADER):
        return None
    try:
        owner = app.router.key_store(table.name, key)
    except KeyError:
        return view.json({"error": "partitions are being reassigned: try again"}, status=503)
    here = app.conf.canonical_url
    if (owner.host, owner.port) == (here.host, here.port):
        return None
    names = ("Authorization", "Content-Type", "X-Modwatch-Timestamp", "X-Modwatch-Signature")
    headers = {name: request.headers[name] for name in names if name in request.headers}
    headers[FORWARDED_HEADER] = "1"
    url = request.url.with_host(owner.host).with_port(int(owner.port))
    async with app.http_client.post(url, headers=headers, data=body) as response:
        return view.json(orjson.loads(await response.read()), status=response.status)


def partial_scope(table=item_to_state) -> dict:
    """What a list view covers: only the partitions of ``table`` this worker owns, named, out of how many.

    With several workers each answers for its own; the ledger and Prometheus see them all."""
    topic = table.changelog_topic.get_topic_name()
    owned = sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)
    return {"scope": "this worker's partitions", "partitions": owned, "partitions_in_all": settings.partitions}


@app.page("/healthz")
async def healthz(web, request):
    return web.json({"status": "ok"})


@app.page("/readyz")
async def readyz(web, request):
    """Ready: a broker answers, partitions are assigned, and table recovery is done."""
    health = current().health
    problems = []
    probed_at = health["probed_at"]
    if not health["broker_ok"]:
        problems.append(f"broker not reachable: {health['broker_error']}")
    elif time.monotonic() - probed_at > BROKER_PROBE_SECONDS + BROKER_PROBE_TIMEOUT_SECONDS + 2:
        problems.append(f"broker not probed for {time.monotonic() - probed_at:.0f} s (the event loop is stalled)")
    elif health.get("short_of_replicas"):
        short = health["short_of_replicas"]
        problems.append(
            f"writes refused on {len(short)} partitions (fewer than {settings.min_insync_replicas} in-sync "
            f"replicas or no leader): {', '.join(short[:5])}{' ...' if len(short) > 5 else ''}"
        )
    if app.rebalancing:
        problems.append("rebalancing")
    if not app.tables.recovery.completed.is_set():
        problems.append("table recovery not finished")
    if not app.consumer.assignment():
        problems.append("no partitions assigned")
    if problems:
        return web.json({"ready": False, "problems": problems}, status=503)
    return web.json({"ready": True, "partitions": len(app.consumer.assignment())})


@app.page("/takedowns/{request_id}")
class Takedown(View):
    async def get(self, request, request_id: str):
        try:
            key = item_key_of_request(request_id)
        except ValueError as error:
            return self.error(404, str(error))
        try:
            return await app.router.route_req(item_to_state.name, key, self.web, request)
        except SameNode:
            pass
        state = item_to_state.get(key)
        found = _find_request(state, request_id)
        if found is None:
            return self.error(404, f"no takedown request {request_id!r}")
        return self.json(found)


def _find_request(state: dict | None, request_id: str) -> dict | None:
    request = lifecycle.request_by_id(state, request_id)
    if request is None:
        return None
    history = lifecycle.history_of(state, request_id)
    return {
        "key": state["key"],
        "request": request,
        "last_transition": history[-1] if history else None,
        "history": history,
        "history_note": f"the last {lifecycle.HISTORY_KEPT} transitions of the item; the ledger topic holds all",
    }


@app.page("/takedowns")
class Takedowns(View):
    async def get(self, request):
        platform = request.query.get("platform")
        wanted_state = request.query.get("state")
        if wanted_state and wanted_state not in lifecycle.REQUEST_STATES:
            known = ", ".join(sorted(lifecycle.REQUEST_STATES))
            return self.json({"error": f"state: {wanted_state!r} is not one of {known}", "field": "state"}, status=400)
        platforms = current().pipeline.parser.platforms
        if platform and platform not in platforms:
            known = ", ".join(sorted(platforms))
            return self.json(
                {"error": f"platform: {platform!r} is not one of {known}", "field": "platform"}, status=400
            )
        try:
            limit, after = _page(request.query)
        except ValueError as error:
            field, reason = str(error).split(": ", 1)
            return self.json({"error": f"{field}: {reason}", "field": field}, status=400)
        found = []
        for _, state in list(item_to_state.items()):
            held = state.get("request")
            if not held:
                continue
            if platform and state["platform"] != platform:
                continue
            if wanted_state and held["state"] != wanted_state:
                continue
            if after is not None and _order(held) <= after:
                continue
            found.append(held)
        found.sort(key=_order)
        page = found[:limit]
        following = _cursor(page[-1]) if len(found) > limit else None
        return self.json({"takedowns": page, "next": following, **partial_scope()})


# GET /takedowns pages: oldest request first, up to ``limit`` (default and cap below) a page;
# ``next`` is the cursor of the following page (null on the last), given back as ``?after=``.
PAGE_DEFAULT, PAGE_MAX = 100, 1000


def _order(request: dict) -> tuple[str, str]:
    return (request.get("requested_at") or "", request["request_id"])


def _cursor(request: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(_order(request))).decode().rstrip("=")


def _page(query) -> tuple[int, tuple[str, str] | None]:
    """``limit`` and the position ``after`` which a page starts; ValueError 'field: why' when invalid."""
    text = query.get("limit", str(PAGE_DEFAULT))
    if not text.isdigit() or not 1 <= int(text) <= PAGE_MAX:
        raise ValueError(f"limit: {text[:20]!r} is not a whole number from 1 to {PAGE_MAX}")
    after = query.get("after")
    if after is None:
        return int(text), None
    try:
        requested_at, request_id = orjson.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
        if not (isinstance(requested_at, str) and isinstance(request_id, str)):
            raise TypeError
    except (ValueError, TypeError, binascii.Error):
        raise ValueError(f"after: {after[:40]!r} is not a cursor this API gave (the `next` of a page)") from None
    return int(text), (requested_at, request_id)


@app.page("/reviews")
class Reviews(View):
    """What awaits review, oldest first."""

    async def get(self, request):
        # The posts' text and authors: with a token configured, only for who holds it (as the console).
        if access.api_token(os.environ):
            refused = token_refusal(self, request)
            if refused is not None:
                return refused
        return self.json({"pending_review": pending_reviews(), **partial_scope()})


def pending_reviews() -> list[dict]:
    pending = []
    for _, state in list(item_to_state.items()):
        current = state.get("request")
        if current and current["state"] == "pending_review":
            pending.append(
                {
                    "request_id": current["request_id"],
                    "platform": state["platform"],
                    "post_id": state["post_id"],
                    "url": current.get("url"),
                    "categories": current.get("categories"),
                    "severity": current.get("severity"),
                    "since": state["transition"]["at"],
                    "evidence": current.get("evidence"),
                    # The post as the reviewer sees it, without the thumbnails (the console shows those).
                    "post": {name: value for name, value in (state.get("post") or {}).items() if name != "media"},
                }
            )
    return sorted(pending, key=lambda item: item["since"])


@app.page("/campaigns")
class Campaigns(View):
    """Campaigns on this worker's partitions, alerted ones first (``?all=1`` adds those below the thresholds)."""

    async def get(self, request):
        from takedowns.campaigns import summary

        everything = request.query.get("all") in {"1", "true", "yes"}
        found = [
            summary(state) for _, state in list(campaign_to_state.items()) if everything or state.get("alerted_at")
        ]
        found.sort(key=lambda campaign: (not campaign["alerted"], campaign["first_seen"]))
        return self.json({"campaigns": found, **partial_scope(campaign_to_state)})


@app.page("/accounts/{platform}/{account_id}")
class Account(View):
    """An account's confirmed violations and whether it earned an account-level request."""

    async def get(self, request, platform: str, account_id: str):
        from takedowns.accounts import account_item_key

        key = f"{platform}:{account_id}"
        try:
            return await app.router.route_req(account_to_state.name, key, self.web, request)
        except SameNode:
            pass
        state = account_to_state.get(key)
        if state is None:
            return self.json({"error": f"no confirmed violations for {key!r}"}, status=404)
        return self.json(
            {
                "account": key,
                "strikes": state["strikes"],
                "account_request_at": state.get("requested_at"),
                "account_item": account_item_key(platform, account_id),
            }
        )


@app.page("/scoreboard")
class Scoreboard(View):
    async def get(self, request):
        now = datetime.now(UTC)
        records = scoreboard_records()
        try:  # simulator runs compress platform time (takedowns/compliance.py observations)
            time_scale = float(request.query.get("time_scale", "1"))
        except ValueError:
            time_scale = math.nan
        if not 1.0 <= time_scale <= MAX_TIME_SCALE:  # also false for nan
            return self.json({"error": f"time_scale must be a number from 1 to {MAX_TIME_SCALE:g}"}, status=400)
        figures = compliance.build(compliance.observations(records, now, time_scale=time_scale))
        return self.json({"platforms": figures["platform"], **partial_scope(), "at": now.isoformat()})


def scoreboard_records() -> list[dict]:
    """Every request of this worker's items that was sent, as the compliance figures read a ledger record."""
    return [
        _as_record(state, past)
        for _, state in list(item_to_state.items())
        for past in lifecycle.requests_of(state)
        if past.get("requested_at")
    ]


def _as_record(state: dict, request: dict) -> dict:
    return {
        "request_id": request["request_id"],
        "seq": 0,
        "state": request["state"],
        "to": request["state"],
        "at": request.get("closed_at") or state["transition"]["at"],
        "platform": state["platform"],
        "jurisdiction": request.get("jurisdiction"),
        "categories": request.get("categories"),
        "requested_at": request.get("requested_at"),
        "deadline": request.get("deadline"),
        "removed_at": request.get("removed_at"),
    }


@app.page("/status")
class StatusCallback(View):
    """Platforms report what they did: a status event, signed with the platform's secret.

    The signature scheme is the one modwatch signs its webhooks with
    (takedowns/signing.py): ``X-Modwatch-Timestamp`` and ``X-Modwatch-Signature:
    v1=<HMAC-SHA256(secret, "<timestamp>.<body>")>``, at most 300 s old and 30 s
    ahead, and each signature accepted once (streams/access.py). The secret is
    the platform's delivery secret (``secret_env`` in platforms.yaml).

    Every refusal before the signature is verified gets the same answer, so a
    caller learns nothing (not even which platforms have secrets); the worker
    logs the reason. A signed body that is not a valid status gets its 400.
    """

    async def post(self, request):
        runtime = current()
        body = await request.read()
        if len(body) > MAX_BODY_BYTES:
            return self.refused(f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
        platform, key = _platform_and_item(body)
        secret = getattr(runtime.delivery_channels.get(platform), "secret", None)
        if not secret:
            return self.refused(f"platform {str(platform)[:40]!r} has no delivery secret")
        forwarded = await forward_to_owner(self, item_to_state, key, request, body)
        if forwarded is not None:
            return forwarded
        now = time.time()
        try:
            verify(secret, request.headers, body, now)
        except SignatureError as error:
            return self.refused(f"{platform}: {error}")
        refusal = CALLBACKS_SEEN.refusal(int(request.headers[TIMESTAMP_HEADER]), request.headers[SIGNATURE_HEADER], now)
        if refusal is not None:
            return self.refused(f"{platform}: {refusal}")
        try:
            status = runtime.pipeline.parser.status(body)
        except InvalidEvent as error:
            return self.json({"error": str(error), "reason": error.reason, "field": error.field}, status=400)
        await platform_status_topic.send(key=status.key.encode(), value=body)
        return self.json({"accepted": True, "item": status.key, "status": status.status}, status=202)

    def refused(self, reason: str):
        log.warning("status callback refused: %s", reason)
        return self.json({"error": "status callback refused"}, status=401)


def _platform_and_item(body: bytes) -> tuple[str | None, str]:
    """The platform and item a callback claims, read leniently: the signature decides whether to believe it."""
    try:
        claimed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, ""
    if not isinstance(claimed, dict) or not isinstance(claimed.get("platform"), str):
        return None, ""
    return claimed["platform"], f"{claimed['platform']}:{claimed.get('post_id')}"


CALLBACKS_SEEN = access.ReplayGuard(window_seconds=300)


@app.page("/decisions")
class Decisions(View):
    async def post(self, request):
        refused = token_refusal(self, request)
        if refused is not None:
            return refused
        body = await request.read()
        if len(body) > MAX_BODY_BYTES:
            return self.error(413, f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")

        try:
            decision = current().pipeline.parser.decision(body)
            key = decision_item_key(decision)
        except InvalidEvent as error:
            return self.json({"error": str(error), "reason": error.reason, "field": error.field}, status=400)
        forwarded = await forward_to_owner(self, item_to_state, key, request, body)
        if forwarded is not None:
            return forwarded
        refused_decision = decision_refusal(decision, key)
        if refused_decision is not None:
            return self.json(refused_decision, status=refused_decision.pop("status"))
        await decisions_topic.send(key=key.encode(), value=body)
        return self.json({"accepted": True, "item": key, "decision": decision.decision}, status=202)

    def error(self, status: int, reason: str, **kwargs):
        return self.json({"error": reason}, status=status)


def decision_refusal(decision, key: str) -> dict | None:
    """Why the worker that owns ``key`` will not send this decision on, as ``{status, error[, field]}``;
    None when it may. The API and the review console refuse the same things."""
    state = item_to_state.get(key)
    if not _decides_something(decision, key):
        target = decision.request_id or decision.alert_id
        return {"status": 404, "error": f"no takedown request or alert {target!r}: nothing to decide"}
    current_id = ((state or {}).get("request") or {}).get("request_id")
    if decision.decision != "resend" and decision.request_id not in (None, current_id):
        return {"status": 409, "error": f"request {decision.request_id!r} is not the item's current request"}
    refusal = approval_refusal(state, decision)
    if refusal is not None:
        return {"status": 409, "error": refusal, "field": "category"}
    refused_resend = resend_refusal(state, decision)
    if refused_resend is not None:
        return {"status": 409, "error": refused_resend}
    return None


def resend_refusal(state: dict | None, decision) -> str | None:
    """Why a resend cannot be made (only a request whose delivery failed is sent again), or None."""
    if decision.decision != "resend":
        return None
    found = lifecycle.request_by_id(state, decision.request_id)
    if found is None or found["state"] != "delivery_failed":
        held = found["state"] if found else "unknown here"
        return f"request {decision.request_id!r} is {held}: only a failed delivery is resent"
    return None


def approval_refusal(state: dict | None, decision) -> str | None:
    """Why an approval cannot go out as asked (its jurisdiction's law does not list the category), or None."""
    pending = (state or {}).get("request")
    if decision.decision != "approve" or pending is None or pending["state"] != "pending_review":
        return None
    try:
        current().requests.approved(pending, decision.category)
    except ValueError as error:
        return str(error)
    return None


def _decides_something(decision, key: str) -> bool:
    """Whether the request or alert a decision names exists (on this worker, which owns its item)."""
    if decision.request_id is not None:
        return _find_request(item_to_state.get(key), decision.request_id) is not None
    return key in post_to_alert


@app.task
async def announce_write_access() -> None:
    """Say at every start who may write: a worker started with --insecure says so each time."""
    if access.api_token(os.environ):
        log.info("writes need the bearer token (MODWATCH_API_TOKEN)")
    elif access.insecure(os.environ):
        log.warning(
            "started with --insecure: anyone who reaches %s:%s can approve takedown requests "
            "(set MODWATCH_API_TOKEN instead)",
            app.conf.web_host,
            app.conf.web_port,
        )
    else:
        log.warning("writes are off: POST /decisions answers 401 until MODWATCH_API_TOKEN is set")
