"""The re-check poller's guard (no SSRF) and its verdicts, against local servers."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web

from detectors.configfile import ConfigError, Problems
from streams.poller import RefusedURL, check_url, load_recheck_config, poll


def fake_resolver(*addresses):
    def resolve(host, port, type=None):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    return resolve


@pytest.mark.parametrize(
    "url, addresses, reason",
    [
        ("ftp://x.example/p/1", ["93.184.216.34"], "scheme"),
        ("file:///etc/passwd", [], "scheme"),
        ("https://evil.example/p/1", ["93.184.216.34"], "not configured"),
        ("https://x.example.evil.example/p/1", ["93.184.216.34"], "not configured"),
        ("https://x.example/p/1", ["127.0.0.1"], "not a public address"),
        ("https://x.example/p/1", ["10.1.2.3"], "not a public address"),
        ("https://x.example/p/1", ["192.168.0.10"], "not a public address"),
        ("https://x.example/p/1", ["169.254.169.254"], "not a public address"),  # cloud metadata
        ("https://x.example/p/1", ["93.184.216.34", "172.16.0.1"], "not a public address"),  # one bad answer is enough
        ("https://x.example/p/1", ["::1"], "not a public address"),
        ("https://x.example/p/1", ["fd00::1"], "not a public address"),
    ],
)
def test_the_guard_refuses_other_schemes_unknown_hosts_and_private_addresses(url, addresses, reason):
    with pytest.raises(RefusedURL, match=reason):
        check_url(url, ["x.example"], resolve=fake_resolver(*addresses))


def test_a_configured_host_or_subdomain_with_public_addresses_passes():
    assert (
        check_url("https://m.x.example/p/1", ["x.example"], resolve=fake_resolver("93.184.216.34"))[0] == "m.x.example"
    )


def test_loopback_is_refused_unless_a_test_setting_allows_it():
    with pytest.raises(RefusedURL):
        check_url("http://localhost:8080/p/1", ["localhost"])
    assert check_url("http://localhost:8080/p/1", ["localhost"], allow_loopback=True)[0] == "localhost"


@pytest.fixture
async def site():
    pages = {
        "/gone": web.Response(status=410),
        "/gone-json": web.json_response({"status": "removed", "observed_at": "2026-11-29T11:00:00+00:00"}, status=410),
        "/missing": web.Response(status=404),
        "/withheld": web.Response(text="<h1>This post is no longer available</h1>"),
        "/up": web.Response(text="<h1>a post</h1>"),
        "/moved": web.Response(status=302, headers={"Location": "http://169.254.169.254/"}),
        "/huge": web.Response(body=b"x" * (2 * 1024 * 1024) + b"content unavailable"),
    }

    async def handler(request):
        return pages[request.path]

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    port = server._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize(
    "path, verdict",
    [
        ("/gone", "removed"),
        ("/missing", "removed"),
        ("/withheld", "removed"),
        ("/up", "available"),
        ("/moved", "unknown"),
        ("/huge", "available"),
    ],
)
async def test_verdicts_from_a_local_platform(site, path, verdict):
    async with aiohttp.ClientSession() as session:
        result = await poll(session, site + path, ["127.0.0.1"], allow_loopback=True, max_bytes=64 * 1024)
    assert result.verdict == verdict, result


async def test_the_poller_refuses_the_local_server_without_the_test_setting(site):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RefusedURL):
            await poll(session, site + "/gone", ["127.0.0.1"])


async def test_a_json_gone_page_says_when_the_content_went(site):
    async with aiohttp.ClientSession() as session:
        result = await poll(session, site + "/gone-json", ["127.0.0.1"], allow_loopback=True)
        plain = await poll(session, site + "/gone", ["127.0.0.1"], allow_loopback=True)
    assert (result.verdict, result.observed_at) == ("removed", "2026-11-29T11:00:00+00:00")
    assert (plain.verdict, plain.observed_at) == ("removed", None)  # the worker then uses its poll time


def test_recheck_config_is_read_per_platform_and_every_fault_is_named(tmp_path):
    path = tmp_path / "platforms.yaml"
    path.write_text(
        "platforms:\n"
        "  x:\n    name: X\n    recheck: {interval_seconds: 600, hosts: [X.com, twitter.com]}\n"
        "  tiktok:\n    name: TikTok\n"
    )
    problems = Problems()
    [config] = load_recheck_config(path, problems).values()
    problems.raise_if_any()
    assert (config.platform, config.interval_seconds, config.hosts) == ("x", 600, ("x.com", "twitter.com"))

    path.write_text(
        "platforms:\n"
        "  x:\n    recheck: {interval_seconds: 600, hosts: []}\n"
        "  tiktok:\n    recheck: {every: 5, hosts: [tiktok.com]}\n"
    )
    problems = Problems()
    assert list(load_recheck_config(path, problems)) == ["tiktok"]
    with pytest.raises(ConfigError) as raised:
        problems.raise_if_any()
    message = str(raised.value)
    assert "platforms.yaml:3: platforms.x.recheck.hosts" in message and "names no host" in message
    assert "platforms.yaml:5: platforms.tiktok.recheck.every" in message and "is not a recheck setting" in message
