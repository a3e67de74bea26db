"""What to send: the badge e-mail, built as an `EmailMessage` in the delegate's language.

Pure functions: values in, a message out; the caller sends it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared.badges import qr_png
from shared.dates import event_dates

BADGE_MAIL = "badge-mail"
LANGUAGES = ("en", "zh")
CONTENT_LANGUAGE = {"en": "en", "zh": "zh-Hans"}
SUBJECTS = {"en": "Your badge for {event}", "zh": "您的{event}参会证件"}


class UnsafeHeader(ValueError):
    """A value meant for a header holds a line break (header injection)."""


@cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def language_of(code: str) -> str:
    """The language we write in for a delegate's language code ("zh-CN" → "zh"); English
    for any we have no templates for."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else "en"


def message_id(idempotency_key: str, domain: str = "rollcall") -> str:
    """A Message-ID that is the same every time for one message, so a duplicate is visible."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"


def _no_line_breaks(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise UnsafeHeader(f"{what} contains a line break")
    return value


def badge_mail(
    payload: dict, *, mail_from: str, idempotency_key: str, now: datetime
) -> EmailMessage:
    """The badge e-mail for a `DelegateChanged` payload (as loaded): text and HTML parts
    in the delegate's language, the QR code inline and attached as `badge-<id>.png`."""
    event, delegate, badge = payload["event"], payload["delegate"], payload["badge"]
    language = language_of(delegate["language"])
    name = _no_line_breaks(delegate["display_name"], "display name")
    event_name = _no_line_breaks(event["name"], "event name")

    message = EmailMessage()
    message["From"] = mail_from
    domain = message["From"].addresses[0].domain or "rollcall"
    message["To"] = Address(display_name=name, addr_spec=delegate["email"])
    message["Subject"] = SUBJECTS[language].format(event=event_name)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = mid = message_id(idempotency_key, domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please

    png = qr_png(badge["token"])
    qr_cid = f"qr-{mid[1:17]}@{domain}"  # deterministic like the Message-ID it comes from
    context = {
        "name": name,
        "event": event,
        "dates": event_dates(event["starts_on"], event["ends_on"], language),
        "badge": badge,
        "qr_cid": qr_cid,
        "lang": CONTENT_LANGUAGE[language],
    }
    templates = _templates()
    message.set_content(templates.get_template(f"badge_mail.{language}.txt").render(context))
    html = templates.get_template(f"badge_mail.{language}.html").render(context)
    message.add_alternative(html, subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(png, "image", "png", cid=f"<{qr_cid}>")
    message.add_attachment(
        png, maintype="image", subtype="png", filename=f"badge-{badge['id']}.png"
    )
    # Set last: making the message multipart moves Content-* headers into the first part.
    message["Content-Language"] = CONTENT_LANGUAGE[language]
    return message
