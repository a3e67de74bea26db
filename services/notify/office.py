"""Mail to the organisers' own offices (the protocol office's VIP arrival alert, the organiser
digest): in English, a plain-text and an HTML part from `templates/office/<kind>.{txt,html}`,
a `Message-ID` derived from the message's idempotency key. Pure: values in, a message out."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from services.notify.messages import _templates, message_id, one_line


def build(
    kind: str,
    *,
    to: str,
    subject: str,
    context: dict,
    mail_from: str,
    idempotency_key: str,
    now: datetime,
) -> EmailMessage:
    """The `kind` message to the office address `to`."""
    message = EmailMessage()
    message["From"] = mail_from
    domain = message["From"].addresses[0].domain or "rollcall"
    message["To"] = to
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(idempotency_key, domain)
    message["Auto-Submitted"] = "auto-generated"
    templates = _templates()
    message.set_content(templates.get_template(f"office/{kind}.txt").render(context))
    message.add_alternative(
        templates.get_template(f"office/{kind}.html").render(context), subtype="html"
    )
    message["Content-Language"] = "en"
    return message
