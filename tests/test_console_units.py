"""The review console's pure parts: sessions, CSRF, highlights and what an approval would send."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streams.console import auth, pages
from streams.console import review_items as items
from takedowns.requests import Requests
from tests.conftest import ROOT

ENV = {"MODWATCH_API_TOKEN": "a-token-of-at-least-16-chars"}
NOW = 1_800_000_000.0


def test_a_session_needs_the_token_and_lasts_a_shift():
    assert auth.login("rev-1", "wrong-token-0123456789", ENV, NOW) is None
    assert auth.login("rev 1", ENV["MODWATCH_API_TOKEN"], ENV, NOW) is None  # not a usable reviewer name
    assert auth.login("rev-1", "", {}, NOW) is None  # no token configured: no console
    session = auth.login("rev-1", ENV["MODWATCH_API_TOKEN"], ENV, NOW)
    assert auth.session_from(session.cookie, ENV, NOW + 60).reviewer == "rev-1"
    assert auth.session_from(session.cookie, ENV, NOW + auth.SESSION_SECONDS + 1) is None  # expired
    assert auth.session_from(session.cookie, {"MODWATCH_API_TOKEN": "another-token-0123456789"}, NOW) is None
    encoded, expires, signature = session.cookie.split(".")
    assert auth.session_from(f"{encoded}.{int(expires) + 86400}.{signature}", ENV, NOW) is None  # extended: forged
    header = auth.cookie_header(session, secure=False)
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/console" in header


def test_a_form_needs_its_session_s_csrf_token_and_this_host_as_origin():
    session = auth.login("rev-1", ENV["MODWATCH_API_TOKEN"], ENV, NOW)
    other = auth.login("rev-2", ENV["MODWATCH_API_TOKEN"], ENV, NOW + 1)
    good = session.csrf(ENV["MODWATCH_API_TOKEN"])
    assert auth.csrf_problem(session, good, "http://127.0.0.1:6066", "127.0.0.1:6066", ENV) is None
    assert auth.csrf_problem(session, good, None, "127.0.0.1:6066", ENV) is None
    assert "posted from" in auth.csrf_problem(session, good, "https://evil.example", "127.0.0.1:6066", ENV)
    assert "CSRF" in auth.csrf_problem(session, other.csrf(ENV["MODWATCH_API_TOKEN"]), None, "h", ENV)
    assert "CSRF" in auth.csrf_problem(session, "", None, "h", ENV)


def test_the_bearer_token_is_a_session_for_scripts():
    assert auth.bearer_session(f"Bearer {ENV['MODWATCH_API_TOKEN']}", "rev-script", ENV).reviewer == "rev-script"
    assert auth.bearer_session("Bearer nope", None, ENV) is None
    assert auth.bearer_session(f"Bearer {ENV['MODWATCH_API_TOKEN']}", "bad name!", ENV) is None


def test_highlights_merge_overlaps_and_stay_inside_the_kept_text():
    findings = [
        {"evidence": {"mentions": [{"quote": "Haqqani Network", "start": 24, "end": 39}]}},
        {
            "evidence": {
                "act": {"quote": "Haqqani", "start": 24, "end": 31},
                "far": {"quote": "x", "start": 500, "end": 501},
            }
        },
    ]
    text = "A documentary about the Haqqani Network <b>"
    assert items.highlighted(text, findings) == [
        ("A documentary about the ", False),
        ("Haqqani Network", True),
        (" <b>", False),
    ]
    assert pages.text_block(text, findings).endswith("</mark> &lt;b&gt;")  # the post's own markup is escaped


def test_the_outlook_says_what_an_approval_would_send_or_why_it_cannot():
    requests = Requests.from_config_dir(ROOT / "config")
    mention = {"jurisdiction": "PK", "categories": ["designated_organisation_mention"], "severity": "low"}
    refused = items.outlook(mention, requests)
    assert refused.refusal and "terrorism_promotion" in refused.allowed
    chosen = items.outlook(mention, requests, "terrorism_promotion")
    assert (chosen.categories, chosen.deadline, chosen.refusal) == (["terrorism_promotion"], timedelta(hours=48), None)


@pytest.mark.parametrize(
    ("filters", "expected"), [({}, ["a", "b"]), ({"language": "ur"}, ["b"]), ({"detector": "watchlist"}, [])]
)
def test_the_queue_is_oldest_first_and_filtered(filters, expected):
    def state(post_id, at, lang):
        return {
            "platform": "x",
            "post_id": post_id,
            "post": {"lang": lang},
            "transition": {"at": at},
            "request": {
                "request_id": f"tr-{post_id}",
                "state": "pending_review",
                "categories": ["hate"],
                "evidence": [{"detector": "violent_threat"}],
            },
        }

    states = [state("b", "2026-12-03T10:00:01+00:00", "ur"), state("a", "2026-12-03T10:00:00+00:00", "en")]
    assert [found["post_id"] for found in items.pending(states, filters)] == expected
    assert items.filter_choices(states)["language"] == ["en", "ur"]


def test_a_transition_s_cause_reads_as_a_line():
    from streams.console.request_page import cause_text

    delivered = {
        "type": "delivery",
        "channel": "webhook",
        "attempts": 2,
        "outcome": "delivered",
        "last_attempt": {"attempt": 2, "status_code": 202, "error": None},
    }
    assert cause_text(delivered) == "delivery · delivered by webhook after 2 attempt(s) · last attempt 2: HTTP 202"
    review = {"type": "review", "decision": "approve", "reviewer": "rev-1", "category": "hate", "reason": "<b>"}
    assert cause_text(review) == "review · decision: approve · reviewer: rev-1 · category: hate · reason: <b>"


def test_modwatch_reviews_prints_the_whole_id_the_text_and_the_quotes():
    from streams.cli.review import described

    item = {
        "request_id": "tr-eDoxMjM0NTY3ODkwMTIzNDU2Nzg5MA",
        "platform": "x",
        "post_id": "1234567890123456789",
        "since": "2026-12-03T10:00:00+00:00",
        "categories": ["violent_threat"],
        "severity": "critical",
        "evidence": [
            {
                "detector": "violent_threat",
                "evidence": {"act": {"quote": "I will kill"}, "time": [{"quote": "tomorrow"}]},
            }
        ],
        "post": {"text": "I will kill\n  you tomorrow", "lang": "en"},
    }
    lines = described(item).splitlines()
    assert lines[1].startswith("tr-eDoxMjM0NTY3ODkwMTIzNDU2Nzg5MA  x:1234567890123456789")
    assert "violent_threat · severity critical · violent_threat · language en" in lines[2]
    assert lines[3:] == [
        "  text: I will kill you tomorrow",
        "  evidence: I will kill; tomorrow",
    ]


def test_a_post_s_url_is_a_link_only_when_it_is_a_web_address():
    assert pages.web_link("https://x.example/status/1").startswith('<a href="https://x.example/status/1"')
    for hostile in ("javascript:fetch('/console')", "JavaScript:alert(1)", "data:text/html,<b>x</b>", "//evil"):
        shown = pages.web_link(hostile)
        assert "<a " not in shown and "<b>" not in shown, shown


def test_enter_in_the_reason_field_decides_nothing_and_only_the_page_s_script_may_run():
    form = pages.decision_form("tr-1", "csrf", items.Outlook("PK", "PECA", "s.37", allowed=["hate"]))
    first_button = form[form.index("<button") : form.index(">", form.index("<button")) + 1]
    assert "disabled" in first_button and "hidden" in first_button  # implicit submission does nothing
    import base64
    import hashlib

    assert pages.SCRIPT_HASH == "sha256-" + base64.b64encode(hashlib.sha256(pages.SCRIPT.encode()).digest()).decode()
    assert f"<script>{pages.SCRIPT}</script>" in pages.layout("t", "")
