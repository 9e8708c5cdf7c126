"""The notice as an email: HTML and plain text bodies, the signed notice attached, sent over SMTP.

The texts come from takedowns/notice.py; this module adds the headers and
sends the message (blocking, in a thread: see ``try_email`` in channels.py).
The ``Message-ID`` is the same for every attempt at a request, so the
recipient's mail system can drop a duplicate.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import orjson

from streams.delivery.config import EmailChannel
from streams.delivery.outbox import safe_request_id
from takedowns.notice import categories_text, notice_document, notice_plain_text, render_notice_html
from takedowns.signing import IDEMPOTENCY_HEADER


def _one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def email_message(channel: EmailChannel, request: Mapping[str, Any], timestamp: int) -> EmailMessage:
    """The notice as an email: HTML and plain text bodies, the signed notice JSON attached."""
    notice = notice_document(request, channel.secret, timestamp)
    request_id = str(request["request_id"])
    message = EmailMessage()
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.recipients)
    message["Subject"] = _one_line(
        f"Takedown request {request_id}: {categories_text(request)}, deadline {request.get('deadline')}"
    )
    # Stable across retries, so the recipient's mail system can drop a duplicate.
    domain = channel.sender.rsplit("@", 1)[-1].strip(" >") or "modwatch.invalid"
    message["Message-ID"] = f"<{safe_request_id(request_id)}@{_one_line(domain)}>"
    message[IDEMPOTENCY_HEADER] = request_id  # the signature is in the attachment, over its `body`
    message.set_content(notice_plain_text(request))
    message.add_alternative(render_notice_html(request), subtype="html")
    message.add_attachment(
        orjson.dumps(notice, option=orjson.OPT_INDENT_2),
        maintype="application",
        subtype="json",
        filename=f"{request_id}.json",
    )
    return message


def send_email(channel: EmailChannel, message: EmailMessage) -> None:
    """Blocking: runs in a thread."""
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.retry.timeout_seconds) as client:
        client.ehlo()
        if channel.starttls:
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if channel.password is not None:
            client.login(channel.username or "", channel.password)
        client.send_message(
            message,
            from_addr=parseaddr(channel.sender)[1],
            to_addrs=[parseaddr(recipient)[1] for recipient in channel.recipients],
        )
