"""The review console's routes on the worker's web port, under /console.

Every page needs a session (streams/console/auth.py), else it redirects to the login page;
every POST also needs the form's CSRF token and a same-host ``Origin``. A decision made here
is the same record as ``POST /decisions`` takes, read by the same parser and refused for the
same reasons (an approval its law does not cover), and goes to the decisions topic: the audit
trail does not change with the tool that made it.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

import orjson
from faust.exceptions import SameNode
from faust.web import View
from yarl import URL

from detectors.events import InvalidEvent
from streams.app import app
from streams.console import auth, pages, request_page
from streams.console import review_items as items
from streams.runtime import current, decision_item_key
from streams.tables import account_to_state, campaign_to_state, item_to_state
from streams.topics import decisions_topic
from takedowns import compliance, lifecycle
from takedowns.requests import item_key_of_request

SECURITY_HEADERS = {
    # The inline style is this module's own; the one script runs by its hash, nothing else does.
    "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    f"script-src '{pages.SCRIPT_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def session_of(request) -> auth.Session | None:
    found = auth.session_from(request.cookies.get(auth.COOKIE), os.environ, time.time())
    return found or auth.bearer_session(
        request.headers.get("Authorization", ""), request.headers.get("X-Modwatch-Reviewer"), os.environ
    )


def page(view: View, html: str, status: int = 200, **headers: str):
    return view.html(html, status=status, headers={**SECURITY_HEADERS, **headers})


def redirect(view: View, location: str, **headers: str):
    return view.html("", status=303, headers={**SECURITY_HEADERS, "Location": location, **headers})


def to_login(view: View):
    return redirect(view, "/console/login")


@app.page("/console/login")
class Login(View):
    async def get(self, request):
        return page(self, pages.login_page())

    async def post(self, request):
        origin = request.headers.get("Origin")
        form = await request.post()
        reviewer = str(form.get("reviewer", "")).strip()
        if origin and origin != "null" and not origin.endswith(f"//{request.host}"):
            return page(self, pages.login_page("log in from this console's own page"), status=403)
        session = auth.login(reviewer, str(form.get("token", "")), os.environ, time.time())
        if session is None:
            problem = auth.reviewer_problem(reviewer) or "wrong token, or this worker has no MODWATCH_API_TOKEN"
            return page(self, pages.login_page(problem, reviewer), status=401)
        return redirect(self, "/console", **{"Set-Cookie": auth.cookie_header(session, request.secure)})


@app.page("/console/logout")
class Logout(View):
    async def get(self, request):
        return redirect(self, "/console/login", **{"Set-Cookie": auth.logout_header()})


@app.page("/console")
class Queue(View):
    async def get(self, request):
        session = session_of(request)
        if session is None:
            return to_login(self)
        filters = {name: request.query.get(name, "") for name in items.FILTERS}
        states = [state for _, state in list(item_to_state.items())]
        now = datetime.now(UTC)
        entries = [queue_entry(state) for state in items.pending(states, filters)]
        csrf = session.csrf(os.environ.get("MODWATCH_API_TOKEN", "").strip())
        html = pages.queue_page(
            entries, items.filter_choices(states), filters, csrf, session.reviewer, now, done_notice(request.query)
        )
        return page(self, html)


def done_notice(query) -> str:
    """The line that confirms a decision, built here from its kind and request (never text from the URL)."""
    done, request_id = query.get("done", ""), query.get("request", "")
    if done not in ("approve", "reject", "resend") or not request_id:
        return ""
    return f"{done} sent for {request_id[:200]}"


def queue_entry(state: dict) -> dict:
    request = state["request"]
    return {
        "state": state,
        "account": items.account_summary(account_to_state.get(f"{state['platform']}:{request.get('account_id')}")),
        "campaign": items.campaign_summary(request.get("campaign"), campaign_to_state.get),
        "outlook": items.outlook(request, current().requests),
    }


@app.page("/console/decide")
class Decide(View):
    async def post(self, request):
        session = session_of(request)
        if session is None:
            return page(self, pages.login_page("log in first"), status=403)
        form = await request.post()
        forged = auth.csrf_problem(
            session, str(form.get("csrf", "")), request.headers.get("Origin"), request.host, os.environ
        )
        if forged is not None:
            refused = f"<p class=refusal>{escape(forged)}</p>"
            return page(self, pages.layout("Refused", refused, session.reviewer), status=403)
        record = decision_record(form, session.reviewer)
        try:
            decision = current().pipeline.parser.decision(orjson.dumps(record))
            key = decision_item_key(decision)
        except InvalidEvent as error:
            return self._refused(session, str(error), 400)
        status, answer = await decide(key, decision, record)
        if status != 202:
            return self._refused(session, answer.get("error", f"the worker answered {status}"), status)
        done = f"done={quote(decision.decision)}&request={quote(decision.request_id or '')}"
        if decision.decision == "resend":
            return redirect(self, f"/console/requests/{quote(decision.request_id)}?{done}")
        return redirect(self, f"/console?{done}")

    def _refused(self, session: auth.Session, why: str, status: int):
        body = f'<p class="refusal">{escape(why)}</p><p><a href="/console">back to the queue</a></p>'
        return page(self, pages.layout("Refused", body, session.reviewer), status=status)


async def decide(key: str, decision, record: dict) -> tuple[int, dict]:
    """The decision checked and sent by the worker that owns its item, as ``POST /decisions`` does:
    here when this worker owns it, else forwarded to the owner's ``/decisions`` with the API token."""
    from streams.web import FORWARDED_HEADER, decision_refusal

    try:
        owner = app.router.key_store(item_to_state.name, key)
    except KeyError:
        return 503, {"error": "partitions are being reassigned: try again"}
    here = app.conf.canonical_url
    if (owner.host, owner.port) != (here.host, here.port):
        url = URL.build(scheme="http", host=owner.host, port=int(owner.port), path="/decisions")
        token = os.environ.get("MODWATCH_API_TOKEN", "").strip()
        headers = {"Authorization": f"Bearer {token}", FORWARDED_HEADER: "1"}
        async with app.http_client.post(url, headers=headers, data=orjson.dumps(record)) as response:
            return response.status, orjson.loads(await response.read())
    refused = decision_refusal(decision, key)
    if refused is not None:
        return refused.pop("status"), refused
    await decisions_topic.send(key=key.encode(), value=orjson.dumps(record))
    return 202, {"accepted": True, "item": key}


def decision_record(form, reviewer: str) -> dict:
    record = {
        "request_id": str(form.get("request_id", "")),
        "decision": str(form.get("decision", "")),
        "reviewer": reviewer,
        "at": datetime.now(UTC).isoformat(),
    }
    if str(form.get("reason", "")).strip():
        record["reason"] = str(form["reason"]).strip()
    if str(form.get("category", "")).strip() and record["decision"] == "approve":
        record["category"] = str(form["category"]).strip()
    return record


@app.page("/console/requests/{request_id}")
class RequestPage(View):
    async def get(self, request, request_id: str):
        session = session_of(request)
        if session is None:
            return to_login(self)
        try:
            key = item_key_of_request(request_id)
        except ValueError as error:
            return page(self, pages.layout("Not found", f"<p>{escape(str(error))}</p>"), status=404)
        try:
            routed = await app.router.route_req(item_to_state.name, key, self.web, request)
        except SameNode:
            pass
        else:  # the owner's page, rebuilt by Faust without its headers: the same ones again
            routed.headers.update(SECURITY_HEADERS)
            return routed
        state = item_to_state.get(key)
        found = lifecycle.request_by_id(state, request_id)
        if found is None:
            return page(self, pages.layout("Not found", f"<p>no request {escape(request_id)}</p>"), status=404)
        history = lifecycle.history_of(state, request_id)
        csrf = session.csrf(os.environ.get("MODWATCH_API_TOKEN", "").strip())
        html = request_page.request_page(state, found, history, session.reviewer, csrf, done_notice(request.query))
        return page(self, html)


@app.page("/console/scoreboard")
class ScoreboardPage(View):
    async def get(self, request):
        session = session_of(request)
        if session is None:
            return to_login(self)
        from streams.web import scoreboard_records

        now = datetime.now(UTC)
        figures = compliance.build(compliance.observations(scoreboard_records(), now))
        return page(self, request_page.scoreboard_page(figures["platform"], session.reviewer, now))
