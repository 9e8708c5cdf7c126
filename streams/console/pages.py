"""The review console's pages, rendered on the server: HTML with a little JavaScript, no build step.

Every value from a post, a finding or a reviewer is escaped (``html.escape``); the only markup
is this module's. Layout and the keyboard shortcuts are in :data:`STYLE` and :data:`SCRIPT`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from html import escape
from urllib.parse import quote, urlencode, urlsplit

from streams.console import review_items as items
from takedowns.findings import quotes

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f5f7}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header a{color:#cfd8ff;text-decoration:none}header .who{margin-left:auto;color:#aab}
main{padding:16px 20px;max-width:1200px}
.item{background:#fff;border:1px solid #d9dce3;border-radius:6px;margin:0 0 14px;padding:12px 14px}
.item.focused{outline:3px solid #3d6df2}
.meta{color:#555;font-size:12.5px}.meta b{color:#1d2330}
.text{white-space:pre-wrap;background:#fafbfc;border-left:3px solid #c8ccd6;padding:8px 10px;margin:8px 0}
mark{background:#ffe08a;padding:0 1px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:6px 18px;margin:6px 0}
.refusal{color:#a1260d;font-weight:600}.ok{color:#1c6b36}
form.decide{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin-top:8px}
form.decide input[name=reason]{flex:1;min-width:220px;padding:5px}
button{padding:6px 14px;border-radius:4px;border:1px solid #888;cursor:pointer;font-weight:600}
button.approve{background:#1c6b36;color:#fff;border-color:#1c6b36}
button.reject{background:#fff;color:#a1260d;border-color:#a1260d}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #d9dce3;padding:4px 8px;text-align:left}
.thumbs img{height:80px;margin-right:6px;border:1px solid #ccc}
.filters{margin-bottom:12px}.filters select{margin-right:8px}
.notice{background:#e6f4ea;border:1px solid #9bd3ae;padding:6px 10px;margin-bottom:12px}
.keys{color:#777;font-size:12px}td.when{white-space:nowrap}
"""

# j/k move between items, a approves and r rejects the focused one. Never with Ctrl, Cmd or Alt
# (Ctrl+R reloads, it must not reject), never while typing, and a click or tab into an item
# focuses it, so the key acts on the item the reviewer is looking at.
SCRIPT = """
const items=[...document.querySelectorAll('.item')];let at=0;
function focus(i,scroll){if(!items.length)return;at=Math.max(0,Math.min(items.length-1,i));
items.forEach((e,n)=>e.classList.toggle('focused',n===at));if(scroll)items[at].scrollIntoView({block:'nearest'});}
items.forEach((e,n)=>{e.addEventListener('focusin',()=>focus(n,false));e.addEventListener('click',()=>focus(n,false));});
document.addEventListener('keydown',e=>{if(e.ctrlKey||e.metaKey||e.altKey||e.repeat)return;
if(e.target.closest('input,select,textarea,button,[contenteditable]'))return;
if(e.key==='j')focus(at+1,true);else if(e.key==='k')focus(at-1,true);
else if(e.key==='a'||e.key==='r'){const b=items[at]&&items[at].querySelector('button.'+(e.key==='a'?'approve':'reject'));
if(b){e.preventDefault();b.click();}}});focus(0,false);
"""
# The page's one script, allowed by its hash: no other script runs (Content-Security-Policy).
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()


def layout(title: str, body: str, reviewer: str | None = None) -> str:
    who = (
        f'<span class="who">{escape(reviewer)} · <a href="/console/logout">log out</a></span>'
        if reviewer
        else '<span class="who"></span>'
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · modwatch</title>'
        f"<style>{STYLE}</style></head><body><header><b>modwatch review</b>"
        '<a href="/console">queue</a><a href="/console/scoreboard">scoreboard</a>'
        f"{who}</header><main>{body}</main><script>{SCRIPT}</script></body></html>"
    )


def login_page(problem: str | None = None, reviewer: str = "") -> str:
    said = f'<p class="refusal">{escape(problem)}</p>' if problem else ""
    return layout(
        "Log in",
        f"<h2>Log in to review</h2>{said}"
        '<form method="post" action="/console/login">'
        f'<p><label>Reviewer <input name="reviewer" value="{escape(reviewer)}" autocomplete="username" required></label></p>'
        '<p><label>API token <input name="token" type="password" autocomplete="current-password" required></label></p>'
        '<p><button class="approve" type="submit">Log in</button></p></form>'
        "<p class=meta>The token is the worker's MODWATCH_API_TOKEN. The reviewer name goes into the ledger with "
        "each decision.</p>",
    )


def text_block(text: str, findings: list) -> str:
    runs = items.highlighted(text, findings)
    return "".join(f"<mark>{escape(piece)}</mark>" if marked else escape(piece) for piece, marked in runs)


def finding_rows(findings: list) -> str:
    rows = []
    for finding in findings:
        quoted = sorted({escape(text) for text in quotes(finding.get("evidence"))})
        rows.append(
            f"<tr><td>{escape(str(finding.get('detector')))}</td><td>{escape(str(finding.get('category')))}</td>"
            f"<td>{escape(str(finding.get('score')))}</td><td>{', '.join(quoted[:8])}</td></tr>"
        )
    return (
        "<table><tr><th>detector</th><th>category</th><th>score</th><th>evidence</th></tr>" + "".join(rows) + "</table>"
    )


def media_block(post: Mapping, findings: list) -> str:
    media = post.get("media") or []
    if not media:
        return ""
    matched = items.media_matches(findings)
    cells = []
    for entry in media:
        thumbnail, index = str(entry.get("thumbnail") or ""), escape(str(entry.get("index")))
        picture = f'<img alt="media {index}" src="{escape(thumbnail)}">' if thumbnail.startswith("data:image/") else ""
        found = "; ".join(
            f"{escape(str(match.get('label')))} (distance {escape(str(match.get('distance')))}, "
            f"{escape(str(match.get('source')))})"
            for match in matched.get(entry.get("index"), [])
        )
        cells.append(
            f"<div>{picture}<span class=meta>{escape(str(entry.get('kind')))} {index}: {found or 'no bank match'}</span></div>"
        )
    return f'<div class="thumbs">{"".join(cells)}</div>'


def outlook_block(outlook: items.Outlook) -> str:
    if outlook.refusal:
        return f'<p class="refusal">Cannot be approved as it is: {escape(outlook.refusal)}</p>'
    return (
        f'<p class="ok">If approved now: {escape(", ".join(outlook.categories))} under '
        f"{escape(outlook.jurisdiction)}: {escape(outlook.legal_basis)} ({escape(outlook.citation)}); "
        f"deadline {items.human_duration(outlook.deadline)} after it is sent.</p>"
    )


def web_link(url: str | None) -> str:
    """A post's URL as a link only when it is http(s): a ``javascript:`` URL from a post is shown, never followed."""
    if not url:
        return "no URL"
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return f"URL {escape(url)} (not a web link)"
    return f'<a href="{escape(url)}" rel="noreferrer noopener" target="_blank">{escape(url)}</a>'


def decision_form(request_id: str, csrf: str, outlook: items.Outlook) -> str:
    options = '<option value="">as the detectors said</option>' + "".join(
        f'<option value="{escape(category)}">{escape(category)}</option>' for category in outlook.allowed
    )
    return (
        '<form class="decide" method="post" action="/console/decide">'
        f'<input type="hidden" name="request_id" value="{escape(request_id)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        # Enter in the reason field submits with the form's first button: this one, which does nothing.
        '<button type="submit" disabled hidden aria-hidden="true"></button>'
        '<input name="reason" placeholder="reason (goes into the ledger)">'
        f'<label>approve as <select name="category">{options}</select></label>'
        '<button class="approve" name="decision" value="approve" type="submit">Approve (a)</button>'
        '<button class="reject" name="decision" value="reject" type="submit">Reject (r)</button></form>'
    )


def queue_item(entry: Mapping, csrf: str, now: datetime) -> str:
    state, request = entry["state"], entry["state"]["request"]
    post, findings = state.get("post") or {}, request.get("evidence") or []
    account, campaign = entry["account"], entry["campaign"]
    link = web_link(request.get("url"))
    cut = (
        f" (first {len(post.get('text', ''))} of {escape(str(post['text_chars']))} characters)"
        if post.get("text_chars", 0) > len(post.get("text", ""))
        else ""
    )
    campaign_line = (
        f"campaign {escape(campaign['fingerprint'][:12])}: {campaign['items']} items, {campaign['accounts']} accounts, "
        f"{campaign['platforms']} platforms{' (alerted)' if campaign['alerted'] else ''}"
        if campaign
        else "no campaign"
    )
    return (
        f'<section class="item" id="{escape(request["request_id"])}" data-request="{escape(request["request_id"])}">'
        f'<div class="meta"><b>{escape(state["platform"])}</b> post {escape(state["post_id"])} · {link} · '
        f"waiting {items.human_duration(items.waited(state, now))} · severity <b>{escape(str(request.get('severity')))}</b> · "
        f"{escape(', '.join(request.get('categories') or []))} · language {escape(str(post.get('lang') or 'unknown'))} · "
        f'<a href="/console/requests/{quote(request["request_id"])}">request {escape(request["request_id"])}</a></div>'
        f'<div class="text">{text_block(post.get("text", ""), findings)}</div><div class="meta">{cut}</div>'
        f"{media_block(post, findings)}"
        f'<div class="grid"><div class=meta>account <b>{escape(request.get("account_id", ""))}</b> '
        f"{escape(post.get('account_handle') or '')}: {account['strikes']} confirmed violations"
        f"{', account request made' if account['requested_at'] else ''}"
        f"{' · <b>watchlisted</b>' if items.watchlisted(request) else ''}</div>"
        f"<div class=meta>{campaign_line}</div></div>"
        f"{finding_rows(findings)}{outlook_block(entry['outlook'])}"
        f"{decision_form(request['request_id'], csrf, entry['outlook'])}</section>"
    )


def queue_page(
    entries: list, choices: Mapping, filters: Mapping, csrf: str, reviewer: str, now: datetime, notice: str = ""
) -> str:
    selects = "".join(
        f'<label>{name} <select name="{name}"><option value="">all</option>'
        + "".join(
            f'<option value="{escape(value)}"{" selected" if filters.get(name) == value else ""}>{escape(value)}</option>'
            for value in choices.get(name, [])
        )
        + "</select></label>"
        for name in items.FILTERS
    )
    said = f'<div class="notice">{escape(notice)}</div>' if notice else ""
    body = (
        f"<h2>Awaiting review ({len(entries)})</h2>{said}"
        f'<form class="filters" method="get" action="/console">{selects}<button type="submit">filter</button></form>'
        '<p class="keys">Keys: j / k next and previous, a approve, r reject.</p>'
        + ("".join(queue_item(entry, csrf, now) for entry in entries) or "<p>Nothing awaits review on this worker.</p>")
        + "<p class=meta>This worker's partitions only: with several workers, each shows the items it owns.</p>"
    )
    return layout("Review queue", body, reviewer)


def queue_link(filters: Mapping[str, str]) -> str:
    kept = {name: value for name, value in filters.items() if value}
    return "/console" + (f"?{urlencode(kept)}" if kept else "")
