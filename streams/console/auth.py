"""Who may use the review console: a login with the API token, a signed session cookie, and a
CSRF token on every form.

A reviewer logs in with their name and ``MODWATCH_API_TOKEN`` (streams/access.py). The
session cookie names the reviewer and its expiry, signed with an HMAC keyed by the token, so
the worker keeps no session store, a worker restart keeps reviewers logged in, and changing the
token logs everyone out. The cookie is HttpOnly and SameSite=Strict: a page on another site
cannot send it. Every form also carries a CSRF token derived from the session (an HMAC of the
cookie), and a POST whose ``Origin`` names another host is refused, so a forged cross-site POST
fails three ways. A request with ``Authorization: Bearer <token>`` is let in without a cookie
(scripts), as the API's own writes are. Nothing here reads the clock or the environment: the
views pass both in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from streams import access

COOKIE = "modwatch_session"
SESSION_SECONDS = 12 * 3600  # a reviewer's shift
REVIEWER = re.compile(r"[A-Za-z0-9._@-]{1,64}")


@dataclass(frozen=True, slots=True)
class Session:
    reviewer: str
    cookie: str  # the signed value, which the CSRF token is derived from

    def csrf(self, token: str) -> str:
        return _sign(token, "csrf", self.cookie)


def _sign(token: str, purpose: str, value: str) -> str:
    digest = hmac.new(token.encode(), f"{purpose}|{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def reviewer_problem(name: str) -> str | None:
    """Why a reviewer name cannot be used (it goes into the ledger), or None."""
    if not REVIEWER.fullmatch(name):
        return "a reviewer name is 1 to 64 letters, digits or . _ @ -"
    return None


def login(reviewer: str, given_token: str, environ: Mapping[str, str], now: float) -> Session | None:
    """A new session when ``given_token`` is the API token; None otherwise (and always without a token)."""
    token = access.api_token(environ)
    if not token or reviewer_problem(reviewer) or not hmac.compare_digest(given_token.encode(), token.encode()):
        return None
    value = f"{base64.urlsafe_b64encode(reviewer.encode()).decode()}.{int(now) + SESSION_SECONDS}"
    return Session(reviewer, f"{value}.{_sign(token, 'session', value)}")


def session_from(cookie: str | None, environ: Mapping[str, str], now: float) -> Session | None:
    """The session a cookie proves, or None (missing, forged, expired, or signed with an older token)."""
    token = access.api_token(environ)
    if not token or not cookie or cookie.count(".") != 2:
        return None
    value, _, signature = cookie.rpartition(".")
    if not hmac.compare_digest(signature.encode(), _sign(token, "session", value).encode()):
        return None
    encoded, _, expires = value.partition(".")
    if not expires.isdigit() or int(expires) < now:
        return None
    try:
        reviewer = base64.urlsafe_b64decode(encoded.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return Session(reviewer, cookie)


def bearer_session(authorization: str, reviewer: str | None, environ: Mapping[str, str]) -> Session | None:
    """A script with the bearer token acts as ``reviewer`` (from its ``X-Modwatch-Reviewer`` header)."""
    if not access.api_token(environ) or not access.bearer_allowed(authorization, environ):
        return None
    name = reviewer or "api"
    return None if reviewer_problem(name) else Session(name, "bearer")


def csrf_problem(
    session: Session, form_token: str, origin: str | None, host: str, environ: Mapping[str, str]
) -> str | None:
    """Why a console POST must be refused as possibly forged, or None."""
    if origin and origin != "null" and urlsplit(origin).netloc != host:
        return f"the form was posted from {origin}, not from this console"
    if session.cookie == "bearer":
        return None  # a script with the token: no browser, no cross-site form
    if not form_token or not hmac.compare_digest(form_token.encode(), session.csrf(access.api_token(environ)).encode()):
        return "the form's CSRF token is missing or wrong: reload the page and try again"
    return None


def cookie_header(session: Session, secure: bool) -> str:
    """The Set-Cookie value: HttpOnly, SameSite=Strict, for the console's paths only."""
    flags = f"; Max-Age={SESSION_SECONDS}; Path=/console; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={session.cookie}{flags}{'; Secure' if secure else ''}"


def logout_header() -> str:
    return f"{COOKIE}=; Max-Age=0; Path=/console; HttpOnly; SameSite=Strict"
