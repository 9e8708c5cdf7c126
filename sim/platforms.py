"""Simulated platforms: where modwatch's takedown requests land, and how fast content goes.

Each configured platform is one aiohttp app on 127.0.0.1 (a free port):

``POST /takedown-requests``
    modwatch's webhook. The body is the takedown request (JSON with at least
    ``request_id``, ``platform``, ``post_id``; ``requested_at`` and
    ``deadline`` when present). It is checked in this order:

    1. ``X-Modwatch-Timestamp`` (unix seconds) and ``X-Modwatch-Signature``
       (``v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`` over the exact
       body bytes; several comma-separated ``v1=`` values are allowed, for key
       rotation) are present and the timestamp is within
       ``max_clock_skew_seconds`` (300) of the platform's clock: else 401;
    2. the signature matches: else 401;
    3. ``Idempotency-Key`` is present: else 400. A key seen before gets 200
       and the first answer's body again (header ``Idempotent-Replayed:
       true``), and nothing else happens: no second removal, no second draw;
    4. the body is a JSON object for this platform whose ``request_id`` is the
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
down (see :func:`median_agrees` and the wiring notes in sim/__init__.py).

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
import hashlib
import hmac
import math
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, astuple, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from types import MappingProxyType

import orjson
from aiohttp import ClientError, ClientSession, ClientTimeout, web

from detectors.configfile import Document

SIGNATURE_VERSION = "v1"
TIMESTAMP_HEADER = "X-Modwatch-Timestamp"
SIGNATURE_HEADER = "X-Modwatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PLATFORM_HEADER = "X-Modwatch-Platform"
REPLAYED_HEADER = "Idempotent-Replayed"
WEBHOOK_PATH = "/takedown-requests"
DISTRIBUTIONS = frozenset({"lognormal", "exponential", "weibull", "fixed"})
# Stripe's and the IETF idempotency draft's default window for signed webhooks.
MAX_CLOCK_SKEW_SECONDS = 300
# The contract accepts timestamps up to one day ahead; 23 h leaves an hour for clock drift.
MAX_REPORT_AHEAD_SECONDS = 23 * 3600
_STANDARD_NORMAL = NormalDist()


# -- Signatures ----------------------------------------------------------------


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`` over the exact body bytes."""
    digest = hmac.new(_secret_bytes(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signed_headers(secret: str | bytes, body: bytes, idempotency_key: str, now: float | None = None) -> dict[str, str]:
    """The headers of a signed request: what modwatch's sender and the platforms' callbacks send."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: idempotency_key,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def check_signature(
    secret: str | bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
    max_skew_seconds: float = MAX_CLOCK_SKEW_SECONDS,
) -> str | None:
    """None when the request is authentic and fresh, else the reason it is not."""
    if not timestamp_header or not signature_header:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}"
    try:
        timestamp = int(timestamp_header.strip())
    except ValueError:
        return f"{TIMESTAMP_HEADER} {timestamp_header[:40]!r} is not unix seconds"
    age = now - timestamp
    if abs(age) > max_skew_seconds:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        return f"{TIMESTAMP_HEADER} {timestamp} is {when} by the platform's clock (limit {max_skew_seconds:.0f} s)"
    expected = sign(secret, timestamp_header.strip(), body)
    offered = [part.strip() for part in signature_header.split(",")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered if candidate.startswith("v1=")):
        return f"{SIGNATURE_HEADER} does not match the body"
    return None


# -- Latency distributions ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Time from a request's arrival to removal, in platform seconds.

    ``lognormal`` is given by its median and sigma, or by ``share_within_deadline``
    (the median is then ``deadline * exp(-z * sigma)``, z the normal quantile of
    that share, so exactly that share of draws falls within the request's deadline).
    """

    distribution: str
    median_seconds: float | None = None
    sigma: float = 1.0
    mean_seconds: float | None = None
    shape: float = 1.0
    seconds: float | None = None
    share_within_deadline: float | None = None
    deadline_seconds: float = 48 * 3600

    def median(self, deadline_seconds: float | None = None) -> float:
        return self.quantile(0.5, deadline_seconds)

    def _lognormal_median(self, deadline_seconds: float | None) -> float:
        if self.share_within_deadline is None:
            return self.median_seconds
        deadline = self.deadline_seconds if deadline_seconds is None else deadline_seconds
        return deadline * math.exp(-_STANDARD_NORMAL.inv_cdf(self.share_within_deadline) * self.sigma)

    def quantile(self, share: float, deadline_seconds: float | None = None) -> float:
        """The latency below which ``share`` (0 < share < 1) of draws fall."""
        if self.distribution == "fixed":
            return self.seconds
        if self.distribution == "exponential":
            return -self.mean_seconds * math.log1p(-share)
        if self.distribution == "weibull":
            return self._weibull_scale() * (-math.log1p(-share)) ** (1 / self.shape)
        return self._lognormal_median(deadline_seconds) * math.exp(self.sigma * _STANDARD_NORMAL.inv_cdf(share))

    def cdf(self, seconds: float, deadline_seconds: float | None = None) -> float:
        if seconds <= 0:
            return 0.0
        if self.distribution == "fixed":
            return 1.0 if seconds >= self.seconds else 0.0
        if self.distribution == "exponential":
            return -math.expm1(-seconds / self.mean_seconds)
        if self.distribution == "weibull":
            return -math.expm1(-((seconds / self._weibull_scale()) ** self.shape))
        return _STANDARD_NORMAL.cdf(math.log(seconds / self._lognormal_median(deadline_seconds)) / self.sigma)

    def draw(self, rng: random.Random, deadline_seconds: float | None = None) -> float:
        """One latency; always one number from ``rng``, so the streams of every platform stay aligned."""
        return self.quantile(_open_unit(rng.random()), deadline_seconds)

    def _weibull_scale(self) -> float:
        # Parametrised by its median, like the others: median = scale * ln(2) ** (1 / shape).
        return self.median_seconds / math.log(2) ** (1 / self.shape)


def _open_unit(value: float) -> float:
    """random() is in [0, 1); the quantile functions need (0, 1)."""
    return min(max(value, 1e-12), 1 - 1e-12)


@dataclass(frozen=True, slots=True)
class PlatformBehaviour:
    name: str
    latency: LatencyModel
    ignore_share: float = 0.0
    callback: bool = True

    def removal_quantile(self, share: float, deadline_seconds: float | None = None) -> float:
        """Time by which ``share`` of *all* requests are removed (ignored ones never are): inf if never.

        This is what a Kaplan-Meier estimate over every request converges to,
        e.g. telegram's median with 40 % ignored is the latency's 83rd percentile.
        """
        acted_on = 1.0 - self.ignore_share
        if share >= acted_on:
            return math.inf
        return self.latency.quantile(share / acted_on, deadline_seconds)

    def expected_median_seconds(self, deadline_seconds: float | None = None) -> float:
        return self.removal_quantile(0.5, deadline_seconds)


@dataclass(frozen=True, slots=True)
class PlatformsConfig:
    platforms: Mapping[str, PlatformBehaviour]
    time_scale: float = 600.0
    max_report_ahead_seconds: float = MAX_REPORT_AHEAD_SECONDS
    max_clock_skew_seconds: float = MAX_CLOCK_SKEW_SECONDS
    callback_attempts: int = 5
    callback_first_retry_seconds: float = 0.5
    seed: int = 20261129

    def with_time_scale(self, time_scale: float) -> PlatformsConfig:
        return replace(self, time_scale=time_scale)


def load_platforms_config(
    document: Document, known_platforms: frozenset[str] | None = None, seed: int = 20261129
) -> PlatformsConfig:
    """The ``clock``, ``webhooks`` and ``platforms`` sections of sim/config.yaml; problems go to the document."""
    behaviours = {}
    for name in document.mapping(("platforms",), required=True):
        where = ("platforms", name)
        document.mapping(where, required=True)
        if known_platforms is not None and name not in known_platforms:
            document.problem(where, f"{name!r} is not in config/platforms.yaml ({', '.join(sorted(known_platforms))})")
        callback = document.get(where + ("callback",), True)
        if not isinstance(callback, bool):
            document.problem(where + ("callback",), f"must be true or false, not {callback!r}")
            callback = True
        behaviours[name] = PlatformBehaviour(
            name=name,
            latency=_load_latency(document, where + ("latency",)),
            ignore_share=document.number(where + ("ignore_share",), default=0.0, minimum=0.0, maximum=0.99),
            callback=callback,
        )
    return PlatformsConfig(
        platforms=MappingProxyType(behaviours),
        time_scale=document.number(("clock", "time_scale"), default=600.0, minimum=1e-3),
        max_report_ahead_seconds=document.number(
            ("clock", "max_report_ahead_seconds"), default=MAX_REPORT_AHEAD_SECONDS, minimum=0.0, maximum=86400.0
        ),
        max_clock_skew_seconds=document.number(
            ("webhooks", "max_clock_skew_seconds"), default=MAX_CLOCK_SKEW_SECONDS, minimum=1.0
        ),
        callback_attempts=int(document.number(("webhooks", "callback_attempts"), default=5, minimum=1, maximum=20)),
        callback_first_retry_seconds=document.number(
            ("webhooks", "callback_first_retry_seconds"), default=0.5, minimum=0.0
        ),
        seed=seed,
    )


def _load_latency(document: Document, where: tuple) -> LatencyModel:
    document.mapping(where, required=True)
    named = document.get(where + ("distribution",))
    if named is None:
        document.problem(where + ("distribution",), f"is required ({', '.join(sorted(DISTRIBUTIONS))})")
        return LatencyModel("fixed", seconds=1.0)
    distribution = document.choice(where + ("distribution",), DISTRIBUTIONS, default="")
    if not distribution:
        return LatencyModel("fixed", seconds=1.0)  # reported; its parameters mean nothing yet

    def positive(name: str, required: bool = True) -> float | None:
        if document.get(where + (name,)) is None:
            if required:
                document.problem(where + (name,), f"is required for a {distribution} latency")
            return None
        return document.number(where + (name,), default=1.0, minimum=1e-9)

    allowed = {
        "lognormal": {"median_seconds", "sigma", "share_within_deadline", "deadline_seconds"},
        "exponential": {"mean_seconds"},
        "weibull": {"median_seconds", "shape"},
        "fixed": {"seconds"},
    }[distribution] | {"distribution"}
    for name in document.mapping(where):
        if name not in allowed:
            document.problem(
                where + (name,),
                f"is not a parameter of a {distribution} latency ({', '.join(sorted(allowed - {'distribution'}))})",
            )
    if distribution == "lognormal":
        share = document.get(where + ("share_within_deadline",))
        median = document.get(where + ("median_seconds",))
        if (share is None) == (median is None):
            document.problem(where, "a lognormal latency needs exactly one of median_seconds and share_within_deadline")
        return LatencyModel(
            "lognormal",
            median_seconds=positive("median_seconds", required=False),
            sigma=positive("sigma") or 1.0,
            share_within_deadline=(
                document.number(where + ("share_within_deadline",), default=0.5, minimum=0.01, maximum=0.999)
                if share is not None
                else None
            ),
            deadline_seconds=positive("deadline_seconds", required=False) or 48 * 3600,
        )
    if distribution == "exponential":
        return LatencyModel("exponential", mean_seconds=positive("mean_seconds") or 1.0)
    if distribution == "weibull":
        return LatencyModel("weibull", median_seconds=positive("median_seconds") or 1.0, shape=positive("shape") or 1.0)
    return LatencyModel("fixed", seconds=positive("seconds") or 1.0)


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
    secret: bytes
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
            name: PlatformHandle(
                name, "", behaviour, _secret_bytes(secrets[name]), rng=random.Random(f"{config.seed}:{name}")
            )
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
            problem = check_signature(
                handle.secret,
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                body,
                now,
                self.config.max_clock_skew_seconds,
            )
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


# -- Checking a measured median against the configuration -------------------------


@dataclass(frozen=True, slots=True)
class MedianCheck:
    agrees: bool
    expected_median_seconds: float
    survival_at_expected: float  # Kaplan-Meier share still up at the expected median
    standard_error: float  # Greenwood
    z: float
    removed: int
    censored: int

    def describe(self) -> str:
        return (
            f"S({self.expected_median_seconds:.0f} s) = {self.survival_at_expected:.3f} "
            f"± {self.z:.2f} x {self.standard_error:.3f} (n = {self.removed} removed, {self.censored} censored): "
            + ("agrees" if self.agrees else "DISAGREES")
        )


def median_agrees(
    durations: list[tuple[float, bool]],
    expected_median_seconds: float,
    *,
    confidence: float = 0.999,
    slack_seconds: float = 0.0,
) -> MedianCheck:
    """Does the configured median lie in the Brookmeyer-Crowley confidence interval of the measured one?

    ``durations`` are (seconds to removal or to censoring, removed). The
    interval of the Kaplan-Meier median is the set of times t whose estimated
    survival S(t) is within z standard errors (Greenwood) of 0.5; so the
    configured median m agrees when ``|S(m) - 0.5| <= z * se(S(m))``. It is
    distribution-free, handles open (censored) requests, and without censoring
    reduces to the binomial test of how many removals fall below m. With
    ``slack_seconds`` (delivery delay: measured = drawn + delay) any m' in
    [m, m + slack] may agree.
    """
    z = _STANDARD_NORMAL.inv_cdf(0.5 + confidence / 2)

    def check_at(moment: float) -> MedianCheck:
        survival, variance_sum = _kaplan_meier_at(durations, moment)
        # Greenwood's standard error at the observed S shrinks as S nears 0 or 1, so a small
        # sample far from the median would disagree far more often than the stated level;
        # it is never taken below the binomial one at S = 0.5 (the null: m is the median),
        # and that one is used before the first removal, where Greenwood's is 0.
        null_error = math.sqrt(0.25 / max(len(durations), 1))
        error = max(survival * math.sqrt(variance_sum), null_error) if variance_sum > 0 else null_error
        return MedianCheck(
            agrees=abs(survival - 0.5) <= z * max(error, 1e-12),
            expected_median_seconds=expected_median_seconds,
            survival_at_expected=survival,
            standard_error=error,
            z=z,
            removed=sum(removed for _, removed in durations),
            censored=sum(not removed for _, removed in durations),
        )

    low = check_at(expected_median_seconds)
    if low.agrees or not slack_seconds:
        return low
    high = check_at(expected_median_seconds + slack_seconds)
    # S(t) falls with t: if it crosses 0.5 inside the slack, some m' in it is the median itself.
    crossed = low.survival_at_expected >= 0.5 >= high.survival_at_expected
    return MedianCheck(high.agrees or crossed, *astuple(low)[1:])


def _kaplan_meier_at(durations: list[tuple[float, bool]], at: float) -> tuple[float, float]:
    """Kaplan-Meier S(at) and Greenwood's sum d / (n (n - d)) over removal times <= at."""
    ordered = sorted(durations, key=lambda item: (item[0], not item[1]))
    at_risk = len(ordered)
    survival, variance_sum = 1.0, 0.0
    index = 0
    while index < len(ordered) and ordered[index][0] <= at:
        moment = ordered[index][0]
        removed = censored = 0
        while index < len(ordered) and ordered[index][0] == moment:
            removed += ordered[index][1]
            censored += not ordered[index][1]
            index += 1
        if removed:
            survival *= 1 - removed / at_risk
            if at_risk > removed:
                variance_sum += removed / (at_risk * (at_risk - removed))
        at_risk -= removed + censored
    return survival, variance_sum
