"""Delivery to platforms: signing, retries, the circuit breaker, the outbox and email.

Webhooks go to real aiohttp servers on 127.0.0.1 and mail to a real SMTP
server (aiosmtpd); only sleeping, the clock and the jitter are replaced, so
retries run without waiting and draw the same delays every time.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import random
import socket
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from detectors.configfile import ConfigError, Problems
from detectors.pipeline import load_jurisdictions, load_platforms
from streams import delivery
from streams.delivery import (
    BreakerSettings,
    CircuitBreaker,
    Deliverer,
    EmailChannel,
    OutboxChannel,
    RetryPolicy,
    SignatureError,
    WebhookChannel,
    load_delivery_config,
    outbox,
    sign,
    verify,
)
from takedowns.requests import request_id_for
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"test-secret-for-platform-x-0123456789"
T0 = 1_795_000_000.0  # 2026-11-18, unix seconds


def takedown_request(post_id: str = "1001", quote: str = "Long live <b>TTP</b>") -> dict:
    """A request as Pipeline.takedown_request builds it."""
    return {
        "request_id": request_id_for("x", post_id),
        "platform": "x",
        "post_id": post_id,
        "account_id": "acc-7",
        "url": f"https://x.example/status/{post_id}",
        "categories": ["terrorism_promotion"],
        "severity": "critical",
        "evidence": [
            {
                "detector": "designated_organisation",
                "category": "terrorism_promotion",
                "score": 0.9,
                "evidence": {
                    "designations": ["UN 1267 QDe.132"],
                    "mentions": [{"kind": "name", "term": "ttp", "quote": quote, "start": 0, "end": len(quote)}],
                    "cues": [{"kind": "promotion", "term": "long live", "quote": "Long live"}],
                },
            }
        ],
        "media_hashes": [],
        "jurisdiction": "PK",
        "legal_basis": "Prevention of Electronic Crimes Act 2016, s.37",
        "citation": "PECA 2016 s.37 & RBUOC Rules 2021 r.6",
        "posted_at": "2026-11-18T09:00:00+00:00",
        "requested_at": "2026-11-18T10:00:00+00:00",
        "deadline": "2026-11-20T10:00:00+00:00",
    }


class FakeTime:
    """The injected clock and sleep: sleeping moves the clock on at once."""

    def __init__(self, start: float = T0):
        self.now = start
        self.sleeps: list[float] = []
        self.advance = True  # False: sleeping takes no time (as if the wait were cut short)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.advance:
            self.now += seconds


class BoundsRandom(random.Random):
    """A seeded Random that remembers the bounds of every uniform() draw."""

    def __init__(self, seed: int):
        super().__init__(seed)
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, low: float, high: float) -> float:
        self.bounds.append((low, high))
        return super().uniform(low, high)


class Platform:
    """A platform's takedown API on a free local port; answers from a script, records every request."""

    def __init__(self):
        self.script: list[dict] = []  # per call: {"status", "headers", "delay"}; the last one repeats
        self.received: list[dict] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append({"headers": dict(request.headers), "body": body})
        answer = self.script[min(len(self.received), len(self.script)) - 1] if self.script else {}
        if answer.get("delay"):
            await asyncio.sleep(answer["delay"])
        return web.Response(
            status=answer.get("status", 200), headers=answer.get("headers", {}), text=answer.get("text", "ok")
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/takedowns", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/takedowns"


@pytest.fixture
async def platform():
    server = Platform()
    await server.start()
    yield server
    await server.runner.cleanup()


def webhook(url: str, **retry) -> WebhookChannel:
    breaker = {name: retry.pop(name) for name in ("failure_threshold", "cool_down_seconds") if name in retry}
    return WebhookChannel("x", url, "MODWATCH_SECRET_X", SECRET, RetryPolicy(**retry), BreakerSettings(**breaker))


def deliverer(channel, fake: FakeTime, attempts: list | None = None, rng: random.Random | None = None) -> Deliverer:
    return Deliverer(
        {"x": channel},
        sleep=fake.sleep,
        clock=fake.clock,
        rng=rng or random.Random(1),
        on_attempt=attempts.append if attempts is not None else None,
    )


# --- signing --------------------------------------------------------------------------------------


async def test_webhook_request_carries_a_verifiable_signature_and_the_idempotency_key(platform):
    fake = FakeTime()
    request = takedown_request()
    async with deliverer(webhook(platform.url), fake) as sender:
        result = await sender.deliver(request)
    assert result.delivered and result.attempts == 1 and result.status_code == 200
    assert result.delivered_at == datetime.fromtimestamp(T0, UTC)
    [received] = platform.received
    headers = received["headers"]
    assert received["body"] == orjson.dumps(request)
    assert headers["Idempotency-Key"] == request["request_id"]
    assert headers["X-Modwatch-Timestamp"] == str(int(T0))
    assert headers["X-Modwatch-Signature"] == sign(SECRET, int(T0), received["body"])
    assert headers["Content-Type"] == "application/json"
    verify(SECRET, headers, received["body"], now=T0 + 10)
    with pytest.raises(SignatureError) as raised:
        verify(b"another-platform-secret-0000000", headers, received["body"], now=T0)
    assert raised.value.reason == "mismatch"


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hmac

    body = b'{"request_id":"tr-eDox"}'
    expected = hmac.new(SECRET, b"1795000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1795000000, body) == f"v1={expected}"


def signed(body: bytes, timestamp: int) -> dict:
    return {
        "Idempotency-Key": "tr-x",
        "X-Modwatch-Timestamp": str(timestamp),
        "X-Modwatch-Signature": sign(SECRET, timestamp, body),
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda headers, body: (dict(headers, **{"X-Modwatch-Signature": "v1=" + "0" * 64}), body), "mismatch"),
        (lambda headers, body: (headers, body + b" "), "mismatch"),
        (lambda headers, body: (dict(headers, **{"X-Modwatch-Timestamp": str(int(T0) + 1)}), body), "mismatch"),
        (
            lambda headers, body: ({k: v for k, v in headers.items() if k != "X-Modwatch-Signature"}, body),
            "missing_header",
        ),
        (
            lambda headers, body: ({k: v for k, v in headers.items() if k != "X-Modwatch-Timestamp"}, body),
            "missing_header",
        ),
        (lambda headers, body: (dict(headers, **{"X-Modwatch-Signature": "sha1=abc"}), body), "bad_format"),
        (lambda headers, body: (dict(headers, **{"X-Modwatch-Timestamp": "yesterday"}), body), "bad_format"),
    ],
    ids=[
        "forged signature",
        "altered body",
        "altered timestamp",
        "no signature",
        "no timestamp",
        "unknown scheme",
        "timestamp not a number",
    ],
)
def test_verify_rejects_a_bad_or_missing_signature(change, reason):
    body = orjson.dumps(takedown_request())
    headers, body = change(signed(body, int(T0)), body)
    with pytest.raises(SignatureError) as raised:
        verify(SECRET, headers, body, now=T0)
    assert raised.value.reason == reason


def test_verify_rejects_a_replay_older_than_the_window_and_a_timestamp_from_the_future():
    body = orjson.dumps(takedown_request())
    verify(SECRET, signed(body, int(T0) - 300), body, now=T0)  # the edge of the window still passes
    with pytest.raises(SignatureError) as raised:
        verify(SECRET, signed(body, int(T0) - 301), body, now=T0)
    assert raised.value.reason == "stale_timestamp"
    with pytest.raises(SignatureError) as raised:
        verify(SECRET, signed(body, int(T0) + 3600), body, now=datetime.fromtimestamp(T0, UTC))
    assert raised.value.reason == "future_timestamp"
    verify(SECRET, signed(body, int(T0) - 3000), body, now=T0, tolerance_seconds=3600)


def test_verify_matches_header_names_without_case_and_refuses_a_repeated_header():
    body = b"{}"
    lowered = {name.lower(): value for name, value in signed(body, int(T0)).items()}
    verify(SECRET, lowered, body, now=T0)

    class Repeated(dict):
        def items(self):
            return [*super().items(), ("x-modwatch-signature", sign(SECRET, int(T0), body))]

    with pytest.raises(SignatureError) as raised:
        verify(SECRET, Repeated(signed(body, int(T0))), body, now=T0)
    assert raised.value.reason == "bad_format"


# --- retries --------------------------------------------------------------------------------------


async def test_server_errors_are_retried_with_growing_jittered_backoff_until_delivered(platform):
    platform.script = [{"status": 500}, {"status": 502}, {"status": 503}, {"status": 201}]
    fake, attempts, rng = FakeTime(), [], BoundsRandom(20261129)
    async with deliverer(
        webhook(platform.url, base_delay_seconds=2, max_delay_seconds=300), fake, attempts, rng
    ) as sender:
        result = await sender.deliver(takedown_request())
    assert len(platform.received) == 4
    assert result.delivered and result.attempts == 4 and result.status_code == 201
    # Full jitter: each delay is drawn from 0 to a cap that doubles after every failure.
    assert rng.bounds == [(0, 2), (0, 4), (0, 8)]
    assert all(0 <= delay <= high for delay, (_, high) in zip(fake.sleeps, rng.bounds, strict=True))
    assert len(set(fake.sleeps)) == 3 and fake.sleeps != [1, 2, 4]  # drawn, not fixed
    # The request went out on the fourth attempt, after the three waits.
    assert result.delivered_at == datetime.fromtimestamp(T0 + sum(fake.sleeps), UTC)
    # Every attempt was reported, in order, with what happened.
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert [a["outcome"] for a in attempts] == ["retry", "retry", "retry", "delivered"]
    assert [a["status_code"] for a in attempts] == [500, 502, 503, 201]
    assert [a["retry_in_seconds"] for a in attempts] == [*fake.sleeps, None]
    assert attempts[0]["error"] == "HTTP 500: ok" and attempts[3]["error"] is None
    assert attempts[3]["at"] == result.delivered_at.isoformat()
    assert {a["request_id"] for a in attempts} == {takedown_request()["request_id"]}
    assert all(a["platform"] == "x" and a["channel"] == "webhook" and a["elapsed_seconds"] >= 0 for a in attempts)
    # Each attempt is signed afresh, with the same idempotency key and body.
    timestamps = [int(r["headers"]["X-Modwatch-Timestamp"]) for r in platform.received]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) > 1
    assert {r["headers"]["Idempotency-Key"] for r in platform.received} == {takedown_request()["request_id"]}
    for received, timestamp in zip(platform.received, timestamps):
        verify(SECRET, received["headers"], received["body"], now=timestamp)


async def test_backoff_cap_doubles_up_to_the_maximum():
    policy = RetryPolicy(base_delay_seconds=2, max_delay_seconds=20)
    assert [policy.backoff_cap(n) for n in range(1, 7)] == [2, 4, 8, 16, 20, 20]


async def test_client_error_is_rejected_without_retry(platform):
    platform.script = [{"status": 400, "text": "missing field url"}]
    fake, attempts = FakeTime(), []
    async with deliverer(webhook(platform.url), fake, attempts) as sender:
        result = await sender.deliver(takedown_request())
    assert len(platform.received) == 1 and fake.sleeps == []
    assert not result.delivered and result.outcome == "rejected" and result.status_code == 400
    assert result.reason == "rejected: HTTP 400: missing field url" and result.delivered_at is None
    assert [(a["outcome"], a["status_code"]) for a in attempts] == [("rejected", 400)]


async def test_redirect_is_not_followed_and_rejects(platform):
    platform.script = [{"status": 307, "headers": {"Location": "http://127.0.0.1:9/elsewhere"}}]
    async with deliverer(webhook(platform.url), FakeTime()) as sender:
        result = await sender.deliver(takedown_request())
    assert result.outcome == "rejected" and "not followed" in result.reason and len(platform.received) == 1


async def test_429_waits_for_retry_after_seconds_then_delivers(platform):
    platform.script = [{"status": 429, "headers": {"Retry-After": "7"}}, {"status": 200}]
    fake, attempts = FakeTime(), []
    async with deliverer(webhook(platform.url), fake, attempts) as sender:
        result = await sender.deliver(takedown_request())
    assert fake.sleeps == [7.0] and result.delivered and len(platform.received) == 2
    assert [a["outcome"] for a in attempts] == ["retry", "delivered"]
    assert result.delivered_at == datetime.fromtimestamp(T0 + 7, UTC)


async def test_429_retry_after_http_date_is_honoured_and_capped(platform):
    when = format_datetime(datetime.fromtimestamp(T0 + 45, UTC), usegmt=True)
    platform.script = [
        {"status": 429, "headers": {"Retry-After": when}},
        {"status": 429, "headers": {"Retry-After": "86400"}},
        {"status": 200},
    ]
    fake = FakeTime()
    async with deliverer(webhook(platform.url, max_retry_after_seconds=600), fake) as sender:
        result = await sender.deliver(takedown_request())
    assert fake.sleeps == [45.0, 600.0] and result.delivered


async def test_timeout_is_retried(platform):
    platform.script = [{"delay": 1.0}, {"status": 200}]
    fake, attempts = FakeTime(), []
    async with deliverer(webhook(platform.url, timeout_seconds=0.2), fake, attempts) as sender:
        result = await sender.deliver(takedown_request())
    assert result.delivered and result.attempts == 2
    assert attempts[0]["outcome"] == "retry" and attempts[0]["error"] == "no answer within 0.2 s"
    assert attempts[0]["status_code"] is None


async def test_connection_refused_is_retried_then_fails_for_good():
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    fake, attempts = FakeTime(), []
    async with deliverer(webhook(f"http://127.0.0.1:{port}/takedowns", max_attempts=3), fake, attempts) as sender:
        result = await sender.deliver(takedown_request())
    assert not result.delivered and result.outcome == "failed" and result.attempts == 3
    assert result.reason.startswith("gave up after 3 attempts: ClientConnectorError")
    assert [a["outcome"] for a in attempts] == ["retry", "retry", "failed"] and len(fake.sleeps) == 2


async def test_on_attempt_may_be_a_coroutine(platform):
    seen = []

    async def ledger(attempt):
        await asyncio.sleep(0)
        seen.append(attempt["outcome"])

    sender = Deliverer({"x": webhook(platform.url)}, on_attempt=ledger, sleep=FakeTime().sleep)
    try:
        assert (await sender.deliver(takedown_request())).delivered
    finally:
        await sender.close()
    assert seen == ["delivered"]


async def test_unknown_platform_fails_visibly_without_a_call(platform):
    attempts = []
    async with deliverer(webhook(platform.url), FakeTime(), attempts) as sender:
        result = await sender.deliver(dict(takedown_request(), platform="myspace"))
    assert result.outcome == "failed" and "myspace" in result.reason and platform.received == []
    assert [a["outcome"] for a in attempts] == ["failed"]


# --- the circuit breaker --------------------------------------------------------------------------


async def test_circuit_opens_after_consecutive_failures_then_a_half_open_trial_closes_it(platform):
    platform.script = [{"status": 503}]
    fake, attempts = FakeTime(), []
    channel = webhook(platform.url, max_attempts=3, failure_threshold=3, cool_down_seconds=60)
    async with deliverer(channel, fake, attempts) as sender:
        first = await sender.deliver(takedown_request("1"))
        assert first.outcome == "failed" and len(platform.received) == 3
        assert sender.breakers["x"].state == "open"

        # While open, nothing is sent: the attempt waits out the cool-down, then one trial goes through.
        platform.script, platform.received, attempts[:] = [{"status": 200}], [], []
        opened = fake.now
        second = await sender.deliver(takedown_request("2"))
    assert second.delivered and second.attempts == 2 and len(platform.received) == 1
    assert [a["outcome"] for a in attempts] == ["circuit_open", "delivered"]
    assert attempts[0]["status_code"] is None and "circuit open" in attempts[0]["error"]
    assert 60 <= fake.sleeps[-1] <= 66  # the cool-down, plus up to 10 % jitter
    assert fake.now >= opened + 60 and second.delivered_at == datetime.fromtimestamp(fake.now, UTC)
    assert sender.breakers["x"].state == "closed" and sender.breakers["x"].failures == 0


async def test_open_circuit_makes_no_call_and_gives_up_after_the_attempts(platform):
    platform.script = [{"status": 500}]
    fake, attempts = FakeTime(), []
    channel = webhook(platform.url, max_attempts=2, failure_threshold=2, cool_down_seconds=3600)
    async with deliverer(channel, fake, attempts) as sender:
        await sender.deliver(takedown_request("1"))
        calls = len(platform.received)
        fake.advance = False  # the cool-down never ends during this delivery
        attempts.clear()
        result = await sender.deliver(takedown_request("2"))
    assert len(platform.received) == calls == 2
    assert result.outcome == "circuit_open" and not result.delivered and "gave up after 2 attempts" in result.reason
    assert [a["outcome"] for a in attempts] == ["circuit_open", "circuit_open"]


def test_half_open_allows_one_trial_and_a_failed_trial_opens_it_again():
    fake = FakeTime()
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=2, cool_down_seconds=30), fake.clock)
    breaker.failed()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow() and breaker.seconds_until_trial() == 30
    fake.now += 30
    assert breaker.state == "half_open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failed()
    assert breaker.state == "open" and breaker.seconds_until_trial() == 30
    fake.now += 30
    assert breaker.allow()
    breaker.abandoned()  # the trial's caller was cancelled: the next request may try
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.failures == 0


async def test_rejection_does_not_count_towards_opening_the_circuit(platform):
    platform.script = [{"status": 500}, {"status": 404}, {"status": 500}]
    async with deliverer(webhook(platform.url, max_attempts=1, failure_threshold=2), FakeTime()) as sender:
        for post in ("1", "2", "3"):
            await sender.deliver(takedown_request(post))
        assert sender.breakers["x"].state == "closed" and sender.breakers["x"].failures == 1


# --- configuration --------------------------------------------------------------------------------


def write_platforms(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "platforms.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, fragment: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def test_shipped_config_delivers_every_platform_to_its_outbox_without_any_secret(tmp_path):
    problems = Problems()
    channels = load_delivery_config(ROOT / "config" / "platforms.yaml", problems, environ={}, base_dir=tmp_path)
    problems.raise_if_any()
    jurisdictions, default = load_jurisdictions(ROOT / "config" / "jurisdictions.yaml", problems)
    platforms = load_platforms(ROOT / "config" / "platforms.yaml", problems, set(jurisdictions), default)
    problems.raise_if_any()  # the platform loader ignores `delivery`
    assert set(channels) == set(platforms)
    for name, channel in channels.items():
        assert isinstance(channel, OutboxChannel) and channel.secret is None
        assert channel.folder == tmp_path / "outbox" / name


def test_missing_environment_variable_is_reported_with_file_line_and_field(tmp_path):
    path = write_platforms(
        tmp_path,
        """\
platforms:
  x:
    name: X
    delivery:
      channel: webhook
      url: https://takedowns.x.example/modwatch
      secret_env: MODWATCH_SECRET_X
  telegram:
    delivery:
      channel: email
      host: smtp.authority.example
      from: takedowns@authority.example
      to: [abuse@telegram.example]
      username: takedowns
      password_env: MODWATCH_SMTP_PASSWORD
""",
    )
    problems = Problems()
    channels = load_delivery_config(path, problems, environ={"MODWATCH_SECRET_X": "short"})
    assert problems.messages == [
        f"{path}:{line_of(path, 'secret_env')}: platforms.x.delivery.secret_env: environment variable "
        "MODWATCH_SECRET_X holds 5 bytes; a signing secret needs at least 16",
        f"{path}:{line_of(path, 'password_env')}: platforms.telegram.delivery.password_env: environment variable "
        "MODWATCH_SMTP_PASSWORD is not set",
    ]
    assert "telegram" in channels  # loading goes on, so every problem is found in one pass
    problems = Problems()
    channels = load_delivery_config(
        path, problems, environ={"MODWATCH_SECRET_X": SECRET.decode(), "MODWATCH_SMTP_PASSWORD": "hunter2"}
    )
    assert problems.messages == []
    assert channels["x"].secret == SECRET and channels["telegram"].password == "hunter2"
    assert channels["telegram"].port == 587 and channels["telegram"].starttls
    assert SECRET.decode() not in repr(channels) and "hunter2" not in repr(channels)


def test_bad_url_scheme_and_other_faults_are_all_reported_at_once(tmp_path):
    path = write_platforms(
        tmp_path,
        """\
platforms:
  x:
    delivery:
      channel: webhook
      url: ftp://takedowns.x.example/modwatch
      secret_env: MODWATCH_SECRET_X
  facebook:
    delivery:
      channel: webhook
      url: http://takedowns.facebook.example/modwatch
      secret: pasted-secret-value-1234567890
      secret_env: MODWATCH_SECRET_X
      retry: {max_attempts: 0, base_delay_second: 1}
  youtube:
    delivery: {channel: pigeon}
  telegram:
    delivery: {channel: outbox}
""",
    )
    problems = Problems()
    load_delivery_config(path, problems, environ={"MODWATCH_SECRET_X": SECRET.decode()})
    where = lambda fragment, field: f"{path}:{line_of(path, fragment)}: {field}: "  # noqa: E731
    assert problems.messages == [
        where("ftp://", "platforms.x.delivery.url")
        + "'ftp://takedowns.x.example/modwatch' has scheme 'ftp'; use https (or http to a local simulator)",
        where("secret: pasted", "platforms.facebook.delivery.secret")
        + "credentials are not read from the config file: put it in an environment variable and name that "
        "variable with secret_env",
        where("base_delay_second", "platforms.facebook.delivery.retry.base_delay_second")
        + "is not a field of retry; did you mean 'base_delay_seconds'?",
        where("max_attempts: 0", "platforms.facebook.delivery.retry.max_attempts") + "must be at least 1, not 0",
        where("http://takedowns.facebook", "platforms.facebook.delivery.url")
        + "'http://takedowns.facebook.example/modwatch' is plain http to another machine; use https, "
        "or set insecure_http: true for a test network",
        where("pigeon", "platforms.youtube.delivery.channel") + "'pigeon' is not one of email, outbox, webhook",
        where("channel: outbox", "platforms.telegram.delivery.folder") + "is required",
    ]
    assert not any("pasted-secret-value" in message for message in problems.messages)
    with pytest.raises(ConfigError):
        problems.raise_if_any()


def test_a_secret_pasted_as_the_variable_name_is_not_quoted_back(tmp_path):
    path = write_platforms(
        tmp_path,
        """\
platforms:
  x:
    delivery: {channel: outbox, folder: out, secret_env: "s3cr3t value!"}
""",
    )
    problems = Problems()
    load_delivery_config(path, problems, environ={})
    [message] = problems.messages
    assert message.startswith(f"{path}:3: platforms.x.delivery.secret_env: must be the name of an environment variable")
    assert "s3cr3t" not in message


def test_loopback_webhook_may_use_plain_http(tmp_path):
    path = write_platforms(
        tmp_path,
        """\
platforms:
  x:
    delivery:
      channel: webhook
      url: http://127.0.0.1:8081/takedowns
      secret_env: MODWATCH_SECRET_X
      timeout_seconds: 2.5
      circuit_breaker: {failure_threshold: 3}
""",
    )
    problems = Problems()
    channels = load_delivery_config(path, problems, environ={"MODWATCH_SECRET_X": SECRET.decode()})
    assert problems.messages == []
    assert channels["x"].retry == RetryPolicy(timeout_seconds=2.5)
    assert channels["x"].breaker == BreakerSettings(failure_threshold=3)


# --- the outbox -----------------------------------------------------------------------------------


async def test_outbox_writes_a_signed_notice_and_an_escaped_html_page_once(tmp_path):
    folder = tmp_path / "outbox" / "x"
    fake, attempts = FakeTime(), []
    request = takedown_request(quote='<script>alert("TTP")</script> & more')
    channel = OutboxChannel("x", folder, "MODWATCH_SECRET_X", SECRET)
    async with deliverer(channel, fake, attempts) as sender:
        first = await sender.deliver(request)
        written = {path.name: path.read_bytes() for path in folder.iterdir()}
        fake.now += 3600
        again = await sender.deliver(dict(request, requested_at="2026-11-18T11:00:00+00:00"))
    request_id = request["request_id"]
    assert sorted(written) == [f"{request_id}.html", f"{request_id}.json"]  # no temporary files left
    # Idempotent: the same request id keeps the first notice, byte for byte, and its time.
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == written
    assert first.delivered and again.delivered and again.delivered_at == first.delivered_at
    assert first.delivered_at == datetime.fromtimestamp(int(T0), UTC)
    assert [a["outcome"] for a in attempts] == ["delivered", "delivered"]

    notice = orjson.loads(written[f"{request_id}.json"])
    assert notice["request"] == request and notice["signed"] is True
    assert notice["headers"]["Idempotency-Key"] == request_id
    verify(SECRET, notice["headers"], notice["body"].encode(), now=int(notice["headers"]["X-Modwatch-Timestamp"]))
    assert orjson.loads(notice["body"]) == request

    page = written[f"{request_id}.html"].decode()
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;TTP&quot;)&lt;/script&gt; &amp; more" in page
    assert "PECA 2016 s.37 &amp; RBUOC Rules 2021 r.6" in page  # citation, escaped
    assert "Prevention of Electronic Crimes Act 2016, s.37" in page and "2026-11-20T10:00:00+00:00" in page
    assert 'href="https://x.example/status/1001"' in page and "UN 1267 QDe.132" in page
    assert "default-src 'none'" in page
    assert notice["html_sha256"] == hashlib.sha256(page.encode()).hexdigest()


def test_outbox_html_never_links_a_non_web_url_and_leaves_out_watchlist_details():
    request = takedown_request()
    request["url"] = "javascript:alert(1)"
    request["evidence"].append(
        {
            "detector": "watchlist",
            "category": "watchlisted_account",
            "score": 1.0,
            "evidence": {"matched_on": "account_id", "reason": "secret informant tip"},
        }
    )
    page = delivery.render_notice_html(request)
    assert "href=" not in page and "javascript:alert(1)" in page
    assert "secret informant tip" not in page and "on the authority&#x27;s watchlist" in page


def test_outbox_rewrite_is_atomic_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    folder = tmp_path / "outbox"
    folder.mkdir()
    (folder / "page.html").write_bytes(b"old")

    def full_disk(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outbox.os, "fsync", full_disk)
    with pytest.raises(OSError):
        outbox._write_atomically(folder, "page.html", b"new", exclusive=False)
    assert [path.name for path in folder.iterdir()] == ["page.html"] and (folder / "page.html").read_bytes() == b"old"


def test_outbox_repairs_a_missing_page_and_keeps_a_notice_written_by_another_writer(tmp_path):
    folder = tmp_path / "outbox"
    request = takedown_request()
    first = delivery.write_outbox(folder, request, None, int(T0))
    (folder / f"{request['request_id']}.html").unlink()  # a crash between the two writes
    second = delivery.write_outbox(folder, dict(request, severity="high"), None, int(T0) + 60)
    assert second == first and first["signed"] is False and "X-Modwatch-Signature" not in first["headers"]
    assert "critical" in (folder / f"{request['request_id']}.html").read_text()


async def test_outbox_refuses_a_request_id_that_is_not_a_file_name(tmp_path):
    attempts = []
    async with deliverer(OutboxChannel("x", tmp_path / "outbox"), FakeTime(), attempts) as sender:
        result = await sender.deliver(dict(takedown_request(), request_id="../../etc/passwd"))
    assert result.outcome == "rejected" and "cannot name a file" in result.reason
    assert not (tmp_path / "outbox").exists() or list((tmp_path / "outbox").iterdir()) == []


async def test_unwritable_outbox_is_retried_then_fails(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    fake, attempts = FakeTime(), []
    async with deliverer(
        OutboxChannel("x", blocker / "x", retry=RetryPolicy(max_attempts=2)), fake, attempts
    ) as sender:
        result = await sender.deliver(takedown_request())
    assert result.outcome == "failed" and [a["outcome"] for a in attempts] == ["retry", "failed"]


# --- email ----------------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps each message; answers DATA from a script (the last answer repeats)."""

    def __init__(self):
        self.messages: list = []
        self.answers = ["250 OK"]
        self.calls = 0

    async def handle_DATA(self, server, session, envelope):
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if answer.startswith("250"):
            self.messages.append(envelope)
        return answer


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


def email_channel(port: int, **retry) -> EmailChannel:
    return EmailChannel(
        "x",
        "127.0.0.1",
        port,
        "Online Harms Unit <takedowns@authority.example>",
        ("abuse@x.example", "legal@x.example"),
        starttls=False,
        secret_env="MODWATCH_SECRET_X",
        secret=SECRET,
        retry=RetryPolicy(**retry),
    )


async def test_email_arrives_with_the_signed_notice_attached_and_an_escaped_html_body(mailbox):
    request = takedown_request(quote="<img src=x onerror=alert(1)>")
    fake, attempts = FakeTime(), []
    async with deliverer(email_channel(mailbox.port), fake, attempts) as sender:
        result = await sender.deliver(request)
    assert result.delivered and result.channel == "email" and [a["outcome"] for a in attempts] == ["delivered"]
    [envelope] = mailbox.messages
    assert envelope.mail_from == "takedowns@authority.example"
    assert envelope.rcpt_tos == ["abuse@x.example", "legal@x.example"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"].startswith(f"Takedown request {request['request_id']}: terrorism promotion")
    assert message["Message-ID"] == f"<{request['request_id']}@authority.example>"
    assert message["Idempotency-Key"] == request["request_id"]
    page = message.get_body(("html",)).get_content()
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Deadline: 2026-11-20T10:00:00+00:00" in message.get_body(("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{request['request_id']}.json"
    notice = orjson.loads(attachment.get_content())
    assert notice["request"] == request
    verify(SECRET, notice["headers"], notice["body"].encode(), now=T0)


async def test_smtp_temporary_failure_is_retried_and_permanent_failure_is_not(mailbox):
    mailbox.answers = ["451 4.3.0 try again later", "250 OK"]
    fake, attempts = FakeTime(), []
    async with deliverer(email_channel(mailbox.port), fake, attempts) as sender:
        result = await sender.deliver(takedown_request())
    assert result.delivered and [(a["outcome"], a["status_code"]) for a in attempts] == [
        ("retry", 451),
        ("delivered", 250),
    ]
    assert len(mailbox.messages) == 1

    mailbox.answers, mailbox.calls, attempts[:] = ["554 5.7.1 rejected: policy"], 0, []
    async with deliverer(email_channel(mailbox.port), FakeTime(), attempts) as sender:
        result = await sender.deliver(takedown_request("1002"))
    assert result.outcome == "rejected" and result.status_code == 554 and mailbox.calls == 1
    assert result.reason == "rejected: SMTP 554 5.7.1 rejected: policy"


async def test_email_starttls_to_a_server_without_it_is_rejected(mailbox):
    channel = EmailChannel(
        "x", "127.0.0.1", mailbox.port, "takedowns@authority.example", ("abuse@x.example",), starttls=True
    )
    async with deliverer(channel, FakeTime()) as sender:
        result = await sender.deliver(takedown_request())
    assert result.outcome == "rejected" and "STARTTLS" in result.reason and mailbox.messages == []


def test_an_outbox_notice_starts_the_clock_to_the_microsecond_and_signs_whole_seconds(tmp_path):
    """A clock truncated to the second could start up to a second before the request was emitted."""
    notice = delivery.write_outbox(tmp_path / "outbox", takedown_request(), b"secret", T0 + 0.75)
    assert datetime.fromisoformat(notice["prepared_at"]).timestamp() == pytest.approx(T0 + 0.75, abs=1e-6)
    assert notice["headers"]["X-Modwatch-Timestamp"] == str(int(T0))
