"""The review console in a real headless Chromium against a real worker and broker.

A reviewer logs in, sees the queue (the screenshot in the README is taken here), approves
one item as another category with a click and rejects another with the keyboard; the
decisions reach the topic with the reviewer's name and the requests their states. Then the
request page (its screenshot too), and the refusals: no session, a forged cross-site form.
Debian's ``chromium`` and ``chromium-driver`` (``make system-deps`` installs them).
"""

from __future__ import annotations

import http.client
import shutil
import time
import urllib.parse

import orjson
import pytest

from tests.conftest import ROOT, consume, post, produce

pytestmark = pytest.mark.kafka

TOKEN = "console-test-token-0123456789"
SCREENSHOTS = ROOT / "docs" / "images"
MENTION = "A documentary about the Haqqani Network, and who funds it"
HISTORY = "History of the Haqqani Network in Khost, 1980 to 2001"


def require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not on PATH: install Debian's `{package}` (make system-deps)", pytrace=False)
    return path


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = require("chromium", "chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(require("chromedriver", "chromium-driver")), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(check, timeout: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"never: {what}")


def items_on_page(browser) -> list:
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, "section.item")


def queue_with(browser, base: str, count: int) -> list:
    def loaded():
        browser.get(f"{base}/console")
        found = items_on_page(browser)
        return [found] if len(found) == count else None  # a list holding the list: true even when empty

    return wait_until(loaded, what=f"{count} items in the queue")[0]


def raw_post(port: int, path: str, body: dict, headers: dict) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST",
        path,
        body=urllib.parse.urlencode(body),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    return connection.getresponse()


def test_a_reviewer_approves_and_rejects_in_the_browser(worker_env, start_worker, kafka_bootstrap, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    env = dict(worker_env, MODWATCH_API_TOKEN=TOKEN)
    prefix, port = env["MODWATCH_TOPIC_PREFIX"], int(env["MODWATCH_WEB_PORT"])
    base = f"http://127.0.0.1:{port}"
    start_worker(env)
    produce(kafka_bootstrap, f"{prefix}.posts", [post("x", "m1", MENTION), post("x", "m2", HISTORY)])

    # Not logged in: the queue sends the browser to the login page.
    browser.get(f"{base}/console")
    assert browser.current_url.endswith("/console/login")
    browser.find_element(By.NAME, "reviewer").send_keys("rev-ayesha")
    browser.find_element(By.NAME, "token").send_keys(TOKEN + Keys.ENTER)
    wait_until(lambda: browser.current_url.endswith("/console"), what="the queue after logging in")
    first, second = queue_with(browser, base, 2)
    assert first.get_attribute("data-request") != second.get_attribute("data-request")
    assert "Haqqani Network" in first.find_element(By.TAG_NAME, "mark").text  # the evidence, highlighted
    assert "Cannot be approved as it is" in first.text and "PK" in first.text  # PECA lists no bare mention
    SCREENSHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "console-queue.png"))

    # Approve the first as terrorism promotion, with a reason, by clicking.
    approved_id = first.get_attribute("data-request")
    Select(first.find_element(By.NAME, "category")).select_by_value("terrorism_promotion")
    first.find_element(By.NAME, "reason").send_keys("glorifies the network's attacks")
    first.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait_until(lambda: "approve sent for" in browser.page_source, what="the approval acknowledged")
    (remaining,) = queue_with(browser, base, 1)
    rejected_id = remaining.get_attribute("data-request")

    # Reject the other from the keyboard: r on the focused item.
    browser.find_element(By.TAG_NAME, "body").send_keys("r")
    wait_until(lambda: "reject sent for" in browser.page_source, what="the rejection acknowledged")
    queue_with(browser, base, 0)

    decisions = [record for _, record in consume(kafka_bootstrap, f"{prefix}.decisions", expect=2, settle=0.5)]
    assert sorted((d["request_id"], d["decision"], d["reviewer"], d.get("category")) for d in decisions) == sorted(
        [(approved_id, "approve", "rev-ayesha", "terrorism_promotion"), (rejected_id, "reject", "rev-ayesha", None)]
    )
    [(_, sent)] = consume(kafka_bootstrap, f"{prefix}.takedown-requests", expect=1, settle=0.5)
    assert sent["request_id"] == approved_id and sent["categories"] == ["terrorism_promotion"]

    # The request page: the whole history, the reviewer and the reason in it.
    browser.get(f"{base}/console/requests/{urllib.parse.quote(approved_id)}")
    history = browser.find_element(By.ID, "history").text
    assert (
        "pending_review" in history and "reviewer: rev-ayesha" in history and "category: terrorism_promotion" in history
    )
    browser.set_window_size(1280, 1400)  # the history and the post in one picture
    browser.save_screenshot(str(SCREENSHOTS / "console-request.png"))
    browser.get(f"{base}/console/requests/{urllib.parse.quote(rejected_id)}")
    assert "dismissed" in browser.find_element(By.ID, "history").text

    # The scoreboard: x has one request sent, open.
    browser.get(f"{base}/console/scoreboard")
    row = browser.find_element(By.XPATH, "//tr[td/b[text()='x']]").text.split()
    assert row[:6] == ["x", "1", "0", "0", "1", "0"], row

    # Refusals: no session, then a real session with a forged form.
    cookie = browser.get_cookie("modwatch_session")["value"]
    for path in ("/console", "/console/scoreboard", f"/console/requests/{urllib.parse.quote(approved_id)}"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path)
        answer = connection.getresponse()
        assert (answer.status, answer.getheader("Location")) == (303, "/console/login"), path
    forged = {"request_id": rejected_id, "decision": "approve"}
    assert raw_post(port, "/console/decide", forged, {}).status == 403  # no session
    session = {"Cookie": f"modwatch_session={cookie}"}
    assert raw_post(port, "/console/decide", forged, session).status == 403  # no CSRF token
    assert raw_post(port, "/console/decide", dict(forged, csrf="guess"), session).status == 403
    cross_site = {**session, "Origin": "https://attacker.example"}
    assert raw_post(port, "/console/decide", dict(forged, csrf="guess"), cross_site).status == 403
    assert raw_post(port, "/console/login", {"reviewer": "x", "token": "wrong-token"}, {}).status == 401
    assert len(consume(kafka_bootstrap, f"{prefix}.decisions", expect=3, timeout=3, settle=0.5)) == 2
    assert orjson.loads(orjson.dumps(decisions))  # the decisions are plain JSON records, as POST /decisions sends
