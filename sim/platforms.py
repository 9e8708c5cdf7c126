"""Simulated platforms: where modwatch's takedown requests land, and how fast content goes.

Each configured platform is one aiohttp app on 127.0.0.1 (a free port):

``POST /takedown-requests``
    modwatch's webhook. The body is the takedown request (JSON with at least
    ``request_id``, ``platform``, ``post_id``; ``requested_at`` and
    ``deadline`` when present). It is checked in this order:

    1. it is signed as modwatch signs it, by modwatch's own rules
       (takedowns/signing.py, docs/signing.md): ``X-Modwatch-Timestamp``
       (unix seconds) and ``X-Modwatch-Signature``
       (``v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`` over the exact
       body bytes) each given once, the signature matching, and the timestamp
       within ``max_clock_skew_seconds`` (300) of the platform's clock: else 401;
    2. ``Idempotency-Key`` is present: else 400. A key seen before gets 200
       and the first answer's body again (header ``Idempotent-Replayed:
       true``), and nothing else happens: no second removal, no second draw;
    3. the body is a JSON object for this platform whose ``request_id`` is the
       idempotency key: else 400.

    A new request is answered 200 ``{"status": "accepted", "request_id",
    "ticket"}``, even when the platform will ignore it (``ignore_share``):
    platforms that ignore requests do not say so.

``GET /p/<post_id>``
    the content page: 200 while the content is up, 410 once removed, with
    ``{"status": "removed", "observed_at", "request_id"}``.

``GET /ground-truth``
    this platform's requests as the simulator recorded them.

Time. For each new request the platform draws a latency L in *platform
seconds* from its configured distribution. A request received at wall time
R is removed (its page turns 410) at wall time ``R + L / time_scale``, and the
removal is reported with ``observed_at = R + L``. modwatch times removal by
``observed_at - requested_at``, so the time to removal it measures is L plus
the delivery delay (milliseconds), whatever ``time_scale`` is: only the waiting
is compressed. A poller that finds the 410 page must take ``observed_at``
from its body, not its own clock, which is on the wall-time scale.

``observed_at`` therefore runs ahead of the wall clock by ``L * (1 -
1/time_scale)``. The event contract refuses timestamps more than a day ahead,
so a removal is never reported while its ``observed_at`` is more than
``max_report_ahead_seconds`` (23 h) ahead: with L beyond that, the removal
happens at wall ``R + max(L / time_scale, L - max_report_ahead_seconds)``.
This changes no timestamp, only when it is sent.

For the same reason, a request still open at wall time W has been up for
``(W - R) * time_scale`` platform seconds, not ``W - R``: a Kaplan-Meier
report over a compressed run must censor open requests at that elapsed time,
or it would count them as censored almost at once and bias every quantile
down (see sim/_median_check.py and the wiring notes in sim/__init__.py).

Removal is reported by calling modwatch's ``POST /status`` (when the platform
has ``callback: true`` and a callback URL is given) with a status event per
the contract, signed with the same scheme and the platform's secret, and
headers ``Idempotency-Key: <request_id>:removed`` and
``X-Modwatch-Platform``; connection errors, 429 and 5xx are retried.

Python API::

    handles = await start_platforms(config, callback_url, secrets)
    handles.webhook_urls          # {"facebook": "http://127.0.0.1:41234/takedown-requests", ...}
    handles.ground_truth()        # [RequestRecord(...)], every request received
    await handles.stop()

Draws are deterministic: each platform has its own random stream seeded by
``seed`` and its name, consumed two numbers per new request in arrival order.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from aiohttp import ClientError, ClientSession, ClientTimeout, web

from sim._behaviour import MAX_CLOCK_SKEW_SECONDS, PlatformBehaviour, PlatformsConfig
from takedowns.signing import IDEMPOTENCY_HEADER, TIMESTAMP_HEADER, SignatureError, signature_headers, verify

PLATFORM_HEADER = "X-Modwatch-Platform"
REPLAYED_HEADER = "Idempotent-Replayed"
WEBHOOK_PATH = "/takedown-requests"
_CLOCK_REASONS = frozenset({"stale_timestamp", "future_timestamp"})


# -- Signatures ----------------------------------------------------------------


def signed_headers(secret: str | bytes, body: bytes, idempotency_key: str, now: float | None = None) -> dict[str, str]:
    """The headers of a signed JSON request (takedowns.signing's): what the platforms' callbacks send."""
    timestamp = int(time.time() if now is None else now)
    return {"Content-Type": "application/json", **signature_headers(idempotency_key, secret, timestamp, body)}


def check_signature(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    max_skew_seconds: float = MAX_CLOCK_SKEW_SECONDS,
) -> str | None:
    """None when modwatch's webhook is authentic and fresh, else the reason it is not.

    The rules are modwatch's own (:func:`takedowns.signing.verify`), the window
    ``max_skew_seconds`` either way of the platform's clock ``now``.
    """
    try:
        verify(secret, headers, body, now, max_skew_seconds)
    except SignatureError as error:
        if error.reason not in _CLOCK_REASONS:
            return str(error)
        # Said by the platform's clock, which tests and compressed runs set apart from the wall clock.
        timestamp = int(next(value for name, value in headers.items() if name.lower() == TIMESTAMP_HEADER.lower()))
        age = now - timestamp
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        return f"{TIMESTAMP_HEADER} {timestamp} is {when} by the platform's clock (limit {max_skew_seconds:.0f} s)"
    return None


# -- Ground truth ---------------------------------------------------------------


@dataclass(slots=True)
class RequestRecord:
    """One request a platform accepted, and what it did about it."""

    request_id: str
    platform: str
    post_id: str
    ticket: str
    received_at: datetime  # wall clock, the anchor of observed_at
    latency_seconds: float  # platform seconds, drawn on arrival (also for ignored requests)
    ignored: bool
    deadline_seconds: float | None  # the request's deadline - requested_at, when it said
    wall_delay_seconds: float  # how long the platform waits, on the wall clock
    removed_at: datetime | None = None  # = received_at + latency: the observed_at reported
    removed_wall_at: datetime | None = None  # when the page turned 410
    replays: int = 0  # later deliveries with the same idempotency key
    callback_attempts: int = 0
    callback_status: int | None = None  # HTTP status of the last attempt; None: not sent or no answer
    callback_error: str | None = None

    def as_dict(self) -> dict:
        record = asdict(self)
        for name in ("received_at", "removed_at", "removed_wall_at"):
            if record[name] is not None:
                record[name] = record[name].isoformat()
        return record


@dataclass(frozen=True, slots=True)
class RefusedDelivery:
    """A webhook the platform answered 400 or 401, and why: none of them reach the ground truth."""

    platform: str
    status: int
    reason: str
    at: datetime


# -- The platforms --------------------------------------------------------------


@dataclass
class PlatformHandle:
    name: str
    base_url: str
    behaviour: PlatformBehaviour
    secret: str | bytes  # modwatch signs its requests to this platform with it
    requests: dict[str, RequestRecord] = field(default_factory=dict)  # by idempotency key
    answers: dict[str, bytes] = field(default_factory=dict)  # first answer's body, by idempotency key
    removed: dict[str, RequestRecord] = field(default_factory=dict)  # by post_id
    refused: list[RefusedDelivery] = field(default_factory=list)
    runner: web.AppRunner | None = None
    rng: random.Random = field(default_factory=random.Random)

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    def content_url(self, post_id: str) -> str:
        return f"{self.base_url}/p/{post_id}"


class SimulatedPlatforms:
    """Running platform apps; made by :func:`start_platforms`."""

    def __init__(
        self,
        config: PlatformsConfig,
        callback_url: str | None,
        secrets: Mapping[str, str | bytes],
        clock: Callable[[], float] = time.time,
    ):
        missing = sorted(set(config.platforms) - set(secrets))
        if missing:
            raise ValueError(f"secrets: no secret for platform(s) {', '.join(missing)}")
        self.config = config
        self.callback_url = callback_url
        self.clock = clock
        self.platforms: dict[str, PlatformHandle] = {
            name: PlatformHandle(name, "", behaviour, secrets[name], rng=random.Random(f"{config.seed}:{name}"))
            for name, behaviour in config.platforms.items()
        }
        self._tasks: set[asyncio.Task] = set()
        self._session: ClientSession | None = None

    # -- public --

    @property
    def webhook_urls(self) -> dict[str, str]:
        return {name: handle.webhook_url for name, handle in self.platforms.items()}

    @property
    def base_urls(self) -> dict[str, str]:
        return {name: handle.base_url for name, handle in self.platforms.items()}

    def ground_truth(self) -> list[RequestRecord]:
        """Every request any platform accepted, in arrival order per platform."""
        return [record for handle in self.platforms.values() for record in handle.requests.values()]

    def removals(self) -> list[RequestRecord]:
        return [record for record in self.ground_truth() if record.removed_at is not None]

    def refused(self) -> list[RefusedDelivery]:
        return [refusal for handle in self.platforms.values() for refusal in handle.refused]

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until every scheduled removal and callback has happened (tests; the end of a demo)."""
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*list(self._tasks), return_exceptions=True), timeout)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for handle in self.platforms.values():
            if handle.runner is not None:
                await handle.runner.cleanup()
                handle.runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> SimulatedPlatforms:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    # -- start --

    async def _start(self, host: str, ports: Mapping[str, int]) -> None:
        unknown = sorted(set(ports) - set(self.platforms))
        if unknown:
            raise ValueError(f"ports: {', '.join(unknown)} is not a simulated platform ({', '.join(self.platforms)})")
        self._session = ClientSession(timeout=ClientTimeout(total=10))
        for handle in self.platforms.values():
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_post(WEBHOOK_PATH, self._webhook_handler(handle))
            app.router.add_get("/p/{post_id}", self._page_handler(handle))
            app.router.add_get("/ground-truth", self._ground_truth_handler(handle))
            handle.runner = web.AppRunner(app, access_log=None)
            await handle.runner.setup()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, ports.get(handle.name, 0)))
            sock.listen(128)
            sock.setblocking(False)
            await web.SockSite(handle.runner, sock).start()
            handle.base_url = f"http://{host}:{sock.getsockname()[1]}"

    # -- handlers --

    def _webhook_handler(self, handle: PlatformHandle):
        async def receive_takedown_request(request: web.Request) -> web.Response:
            body = await request.read()
            now = self.clock()
            problem = check_signature(handle.secret, request.headers, body, now, self.config.max_clock_skew_seconds)
            if problem is not None:
                return self._refuse(handle, 401, "unauthorized", problem)
            key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
            if not key:
                return self._refuse(handle, 400, "missing_idempotency_key", f"{IDEMPOTENCY_HEADER} is required")
            if key in handle.answers:
                # No await between this check and storing the answer below: two
                # concurrent deliveries of one key cannot both get past it.
                handle.requests[key].replays += 1
                return web.Response(
                    status=200,
                    body=handle.answers[key],
                    content_type="application/json",
                    headers={REPLAYED_HEADER: "true"},
                )
            try:
                takedown_request = orjson.loads(body)
            except orjson.JSONDecodeError as error:
                return self._refuse(handle, 400, "invalid_json", f"body is not JSON: {error}")
            problem = _request_problem(takedown_request, handle.name, key)
            if problem is not None:
                return self._refuse(handle, 400, "invalid_request", problem)
            record = self._accept(handle, key, takedown_request, now)
            answer = orjson.dumps({"status": "accepted", "request_id": key, "ticket": record.ticket})
            handle.answers[key] = answer
            return web.Response(status=200, body=answer, content_type="application/json")

        return receive_takedown_request

    def _refuse(self, handle: PlatformHandle, status: int, error: str, detail: str) -> web.Response:
        handle.refused.append(RefusedDelivery(handle.name, status, detail, datetime.fromtimestamp(self.clock(), UTC)))
        return web.Response(
            status=status, body=orjson.dumps({"error": error, "detail": detail}), content_type="application/json"
        )

    def _accept(self, handle: PlatformHandle, key: str, takedown_request: dict, now: float) -> RequestRecord:
        behaviour = handle.behaviour
        deadline_seconds = _deadline_seconds(takedown_request)
        # Two draws per request, always, so one platform's stream does not depend on
        # which requests it ignored.
        ignored = handle.rng.random() < behaviour.ignore_share
        latency = behaviour.latency.draw(handle.rng, deadline_seconds)
        wall_delay = max(latency / self.config.time_scale, latency - self.config.max_report_ahead_seconds)
        record = RequestRecord(
            request_id=key,
            platform=handle.name,
            post_id=str(takedown_request["post_id"]),
            ticket=f"{handle.name}-{len(handle.requests) + 1:06d}",
            received_at=datetime.fromtimestamp(now, UTC),
            latency_seconds=latency,
            ignored=ignored,
            deadline_seconds=deadline_seconds,
            wall_delay_seconds=wall_delay,
        )
        handle.requests[key] = record
        if not ignored:
            task = asyncio.get_running_loop().create_task(self._remove_later(handle, record))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return record

    async def _remove_later(self, handle: PlatformHandle, record: RequestRecord) -> None:
        await asyncio.sleep(record.wall_delay_seconds)
        earlier = handle.removed.get(record.post_id)
        if earlier is not None:
            # A second request for content already down (a reopened request): the
            # platform reports the removal it already made, and removes nothing.
            record.removed_at = earlier.removed_at
        else:
            record.removed_at = record.received_at + timedelta(seconds=record.latency_seconds)
            handle.removed[record.post_id] = record
        record.removed_wall_at = datetime.fromtimestamp(self.clock(), UTC)
        if handle.behaviour.callback and self.callback_url:
            await self._report_removal(handle, record)

    async def _report_removal(self, handle: PlatformHandle, record: RequestRecord) -> None:
        status = {
            "platform": handle.name,
            "post_id": record.post_id,
            "status": "removed",
            "observed_at": record.removed_at.isoformat(),
            "source": f"{handle.name} simulator",
            "request_id": record.request_id,
            "ticket": record.ticket,
        }
        body = orjson.dumps(status)
        delay = self.config.callback_first_retry_seconds
        for attempt in range(1, self.config.callback_attempts + 1):
            record.callback_attempts = attempt
            headers = signed_headers(handle.secret, body, f"{record.request_id}:removed", self.clock())
            headers[PLATFORM_HEADER] = handle.name
            try:
                async with self._session.post(self.callback_url, data=body, headers=headers) as response:
                    record.callback_status = response.status
                    record.callback_error = None
                    if response.status < 500 and response.status != 429:
                        return  # delivered, or refused for good (4xx): retrying would not help
                    record.callback_error = f"HTTP {response.status}"
            except (TimeoutError, ClientError, OSError) as error:
                record.callback_status = None
                record.callback_error = f"{type(error).__name__}: {error}"[:200]
            if attempt < self.config.callback_attempts:
                await asyncio.sleep(delay)
                delay *= 2

    def _page_handler(self, handle: PlatformHandle):
        async def show_post(request: web.Request) -> web.Response:
            post_id = request.match_info["post_id"]
            removal = handle.removed.get(post_id)
            if removal is None:
                return web.json_response({"platform": handle.name, "post_id": post_id, "status": "available"})
            return web.json_response(
                {
                    "platform": handle.name,
                    "post_id": post_id,
                    "status": "removed",
                    "observed_at": removal.removed_at.isoformat(),
                    "request_id": removal.request_id,
                },
                status=410,
            )

        return show_post

    def _ground_truth_handler(self, handle: PlatformHandle):
        async def show_ground_truth(request: web.Request) -> web.Response:
            return web.Response(
                body=orjson.dumps([record.as_dict() for record in handle.requests.values()]),
                content_type="application/json",
            )

        return show_ground_truth


def _request_problem(takedown_request, platform: str, key: str) -> str | None:
    if not isinstance(takedown_request, dict):
        return f"body must be a JSON object, not {type(takedown_request).__name__}"
    for name in ("request_id", "platform", "post_id"):
        value = takedown_request.get(name)
        if not isinstance(value, str) or not value.strip():
            return f"{name}: {value!r} is not a non-empty string"
    if takedown_request["platform"] != platform:
        return f"platform: {takedown_request['platform']!r} sent to {platform!r}'s endpoint"
    if takedown_request["request_id"] != key:
        return f"request_id: {takedown_request['request_id']!r} differs from {IDEMPOTENCY_HEADER} {key!r}"
    return None


def _deadline_seconds(takedown_request: dict) -> float | None:
    """The request's own deadline, relative to its requested_at; None if it does not give both."""
    try:
        requested = datetime.fromisoformat(takedown_request["requested_at"])
        deadline = datetime.fromisoformat(takedown_request["deadline"])
    except (KeyError, TypeError, ValueError):
        return None
    seconds = (deadline - requested).total_seconds()
    return seconds if seconds > 0 else None


async def start_platforms(
    config: PlatformsConfig,
    callback_url: str | None,
    secrets: Mapping[str, str | bytes],
    *,
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    clock: Callable[[], float] = time.time,
) -> SimulatedPlatforms:
    """Start one app per configured platform on ``host``; ``stop()`` them when done.

    Each platform listens on a free port unless ``ports`` names one for it.

    ``callback_url`` is modwatch's ``POST /status`` (e.g. ``http://127.0.0.1:6066/status``),
    or None for platforms that only turn their pages 410. ``secrets`` maps every
    platform to the secret modwatch signs its requests with for that platform.
    """
    platforms = SimulatedPlatforms(config, callback_url, secrets, clock)
    try:
        await platforms._start(host, ports or {})
    except BaseException:
        await platforms.stop()
        raise
    return platforms
