"""The dispatcher in a live worker: signed webhooks, the clock at delivery, a visible failure."""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil

import orjson
import pytest

from tests.conftest import ROOT, consume, post, produce
from tests.test_recheck_end_to_end import ContentSite

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"
SECRET = "a-webhook-secret-of-at-least-16-bytes"


class Platform(ContentSite):
    """A takedown endpoint that records each call and answers with ``status``."""

    def __init__(self, status: int):
        self.status = status
        self.calls: list[tuple[dict, bytes]] = []
        super().__init__()

    def routes(self, app) -> None:
        from aiohttp import web

        async def takedown(request):
            self.calls.append((dict(request.headers), await request.read()))
            return web.json_response({"status": "ok" if self.status < 300 else "refused"}, status=self.status)

        app.router.add_post("/takedowns", takedown)


def webhook_config(tmp_path, url: str):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    platforms = config / "platforms.yaml"
    text = re.sub(
        r"(?m)^  x:\n(    .*\n)+",
        "  x:\n    name: X\n    delivery:\n      channel: webhook\n"
        f"      url: {url}\n      secret_env: MODWATCH_SECRET_X\n",
        platforms.read_text(),
    )
    platforms.write_text(text)
    return config


def test_a_delivered_request_is_signed_carries_its_idempotency_key_and_starts_the_clock(
    worker_env, start_worker, kafka_bootstrap, tmp_path
):
    platform = Platform(200)
    try:
        env = dict(
            worker_env,
            MODWATCH_SECRET_X=SECRET,
            MODWATCH_CONFIG_DIR=str(webhook_config(tmp_path, f"http://127.0.0.1:{platform.port}/takedowns")),
        )
        prefix = env["MODWATCH_TOPIC_PREFIX"]
        start_worker(env)
        produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "d1", VIOLATING)])
        ledger = consume(kafka_bootstrap, f"{prefix}.ledger", expect=2, timeout=30, settle=1.0)
        [(headers, body)] = platform.calls
        timestamp = headers["X-Modwatch-Timestamp"]
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["X-Modwatch-Signature"] == f"v1={expected}"
        request = orjson.loads(body)
        assert headers["Idempotency-Key"] == request["request_id"]
        # Two records: the request, and its delivery with the one attempt in the cause (no record of its own).
        assert [record["to"] for _, record in ledger] == ["requested", "requested"]
        delivered = ledger[1][1]
        assert delivered["cause"]["type"] == "delivery" and delivered["request_id"] == request["request_id"]
        attempt = delivered["cause"]["last_attempt"]
        assert (attempt["attempt"], attempt["status_code"], attempt["error"]) == (1, 200, None)
        assert delivered["requested_at"] == delivered["delivered_at"] == attempt["at"]
    finally:
        platform.stop()


def test_a_refused_request_ends_in_delivery_failed_with_a_critical_alert(
    worker_env, start_worker, kafka_bootstrap, tmp_path
):
    platform = Platform(403)
    try:
        env = dict(
            worker_env,
            MODWATCH_SECRET_X=SECRET,
            MODWATCH_CONFIG_DIR=str(webhook_config(tmp_path, f"http://127.0.0.1:{platform.port}/takedowns")),
        )
        prefix = env["MODWATCH_TOPIC_PREFIX"]
        start_worker(env)
        produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "d2", VIOLATING)])
        alerts = consume(kafka_bootstrap, f"{prefix}.alerts", expect=2, timeout=30, settle=1.0)
        [failed] = [alert for _, alert in alerts if alert["type"] == "delivery_failed"]
        assert failed["severity"] == "critical" and "403" in failed["reason"]
        assert len(platform.calls) == 1  # a 403 is not retried
        ledger = consume(kafka_bootstrap, f"{prefix}.ledger", expect=2, timeout=30, settle=1.0)
        assert [record["to"] for _, record in ledger] == ["requested", "delivery_failed"]
        assert ledger[1][1]["cause"]["last_attempt"]["status_code"] == 403
    finally:
        platform.stop()


RESEND_TOKEN = "a-token-of-twenty-four-chars"


def a_failed_delivery(worker_env, start_worker, kafka_bootstrap, tmp_path, platform, post_id: str) -> tuple[dict, str]:
    """A worker whose webhook platform refuses (``platform`` answers 403): one request, delivery_failed."""
    env = dict(
        worker_env,
        MODWATCH_SECRET_X=SECRET,
        MODWATCH_API_TOKEN=RESEND_TOKEN,
        MODWATCH_CONFIG_DIR=str(webhook_config(tmp_path, f"http://127.0.0.1:{platform.port}/takedowns")),
    )
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    start_worker(env)
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", post_id, VIOLATING)])
    ledger = consume(kafka_bootstrap, f"{prefix}.ledger", expect=2, timeout=30, settle=0.5)
    assert [record["to"] for _, record in ledger] == ["requested", "delivery_failed"]
    return env, ledger[0][1]["request_id"]


def test_modwatch_resend_brings_a_failed_delivery_to_delivered(worker_env, start_worker, kafka_bootstrap, tmp_path):
    import subprocess
    import sys

    platform = Platform(403)
    try:
        env, request_id = a_failed_delivery(worker_env, start_worker, kafka_bootstrap, tmp_path, platform, "d3")
        prefix = env["MODWATCH_TOPIC_PREFIX"]

        def modwatch(*arguments):
            command = [sys.executable, "-m", "streams.cli", *arguments]
            return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)

        # The endpoint is fixed: the operator sends the request again.
        platform.status = 200
        done = modwatch("resend", request_id, "--operator", "ops-1", "--reason", "endpoint fixed")
        assert done.returncode == 0, done.stderr
        ledger = consume(kafka_bootstrap, f"{prefix}.ledger", expect=4, timeout=30, settle=1.0)
        assert [record["to"] for _, record in ledger] == ["requested", "delivery_failed", "requested", "requested"]
        resent, delivered = ledger[2][1], ledger[3][1]
        assert resent["cause"] == {
            "type": "resend",
            "operator": "ops-1",
            "reason": "endpoint fixed",
            "decided_at": resent["cause"]["decided_at"],
        }
        assert delivered["cause"]["type"] == "delivery" and delivered["delivered_at"]
        assert len(platform.calls) == 2
        # A request that is no longer in delivery_failed is not resent.
        again = modwatch("resend", request_id, "--operator", "ops-1")
        assert again.returncode == 1 and "409" in again.stderr and "only a failed delivery" in again.stderr
    finally:
        platform.stop()


def test_the_console_s_resend_button_sends_a_failed_delivery_again(worker_env, start_worker, kafka_bootstrap, tmp_path):
    """The request page offers Resend while the delivery has failed; pressing it is a resend decision."""
    import http.client
    import urllib.parse

    platform = Platform(403)
    try:
        env, request_id = a_failed_delivery(worker_env, start_worker, kafka_bootstrap, tmp_path, platform, "d4")
        prefix, port = env["MODWATCH_TOPIC_PREFIX"], int(env["MODWATCH_WEB_PORT"])
        script = {"Authorization": f"Bearer {RESEND_TOKEN}", "X-Modwatch-Reviewer": "ops-2"}

        def ask(method: str, path: str, body: dict | None = None) -> tuple[int, str]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            headers = dict(script, **({"Content-Type": "application/x-www-form-urlencoded"} if body else {}))
            connection.request(method, path, body=urllib.parse.urlencode(body) if body else None, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.read().decode()

        page = f"/console/requests/{urllib.parse.quote(request_id)}"
        status, html = ask("GET", page)
        assert status == 200 and 'value="resend"' in html and "delivery_failed" in html
        platform.status = 200
        form = {"request_id": request_id, "decision": "resend", "reason": "endpoint fixed"}
        assert ask("POST", "/console/decide", form)[0] == 303
        ledger = consume(kafka_bootstrap, f"{prefix}.ledger", expect=4, timeout=30, settle=1.0)
        assert [record["to"] for _, record in ledger] == ["requested", "delivery_failed", "requested", "requested"]
        assert (ledger[2][1]["cause"]["type"], ledger[2][1]["cause"]["operator"]) == ("resend", "ops-2")
        status, html = ask("GET", page)
        assert 'value="resend"' not in html  # delivered: nothing to resend
        assert ask("POST", "/console/decide", form)[0] == 409
    finally:
        platform.stop()
