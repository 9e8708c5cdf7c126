"""The re-check poller in a live worker: a platform without callbacks, seen removed by its page."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import time

import pytest
from aiohttp import web

from tests.conftest import ROOT, consume, post, produce

pytestmark = pytest.mark.kafka

VIOLATING = "Join the Tehrik-e-Taliban today. Long live TTP!"


class ContentSite:
    """A platform's content pages on 127.0.0.1, in a thread: 200 until removed, then a JSON 410."""

    def __init__(self):
        self.removed: dict[str, str] = {}
        self.hits: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        assert self.ready.wait(10)

    def _serve(self):
        asyncio.set_event_loop(self.loop)

        async def page(request):
            post_id = request.match_info["post_id"]
            self.hits.append(post_id)
            if post_id in self.removed:
                return web.json_response({"status": "removed", "observed_at": self.removed[post_id]}, status=410)
            return web.Response(text="<p>a post</p>")

        async def start():
            app = web.Application()
            app.router.add_get("/p/{post_id}", page)
            self.routes(app)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]

        self.loop.run_until_complete(start())
        self.ready.set()
        self.loop.run_forever()

    def routes(self, app) -> None:
        """More routes, for subclasses."""

    def url(self, post_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/p/{post_id}"

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def content_site():
    site = ContentSite()
    yield site
    site.stop()


def recheck_config(tmp_path, hosts: str):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    platforms = config / "platforms.yaml"
    text = re.sub(
        r"(?m)^  x:\n(    .*\n)+",
        "  x:\n    name: X\n    recheck: {interval_seconds: 0.5, hosts: [" + hosts + "]}\n",
        platforms.read_text(),
    )
    platforms.write_text(text)
    return config


def test_a_page_gone_410_closes_the_request_at_the_time_the_page_gives(
    worker_env, start_worker, kafka_bootstrap, tmp_path, content_site
):
    env = dict(
        worker_env, MODWATCH_CONFIG_DIR=str(recheck_config(tmp_path, "127.0.0.1")), MODWATCH_RECHECK_ALLOW_LOOPBACK="1"
    )
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    start_worker(env)
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "up1", VIOLATING, url=content_site.url("up1"))])
    [(_, request)] = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=1, settle=0.2)
    deadline = time.monotonic() + 30
    while content_site.hits.count("up1") < 2 and time.monotonic() < deadline:  # polled, still up
        time.sleep(0.2)
    assert content_site.hits.count("up1") >= 2

    content_site.removed["up1"] = "2026-11-29T12:00:00+00:00"
    # new -> requested, the delivery attempt (outbox), requested -> requested (delivered), -> removed
    ledger = consume(kafka_bootstrap, f"{prefix}.ledger", expect=4, timeout=30, settle=1.0)
    removal = [record for _, record in ledger if record.get("to") == "removed"]
    assert len(removal) == 1
    assert removal[0]["removed_at"] == "2026-11-29T12:00:00+00:00"
    assert removal[0]["cause"]["source"] == "recheck"
    statuses = consume(kafka_bootstrap, f"{prefix}.platform-status", expect=1, settle=1.0)
    assert [status["request_id"] for _, status in statuses] == [request["request_id"]]  # once: closed, not polled again


def test_a_url_on_a_host_not_configured_is_never_fetched(
    worker_env, start_worker, kafka_bootstrap, tmp_path, content_site
):
    env = dict(
        worker_env, MODWATCH_CONFIG_DIR=str(recheck_config(tmp_path, "x.com")), MODWATCH_RECHECK_ALLOW_LOOPBACK="1"
    )
    prefix = env["MODWATCH_TOPIC_PREFIX"]
    worker = start_worker(env)
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "up2", VIOLATING, url=content_site.url("up2"))])
    consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=1, settle=0.2)
    time.sleep(3)
    assert content_site.hits == []
    assert "recheck refused" in worker.log() and "is not configured for this platform" in worker.log()
