"""What to send: which message a delegate's change calls for, and that message built as an
`EmailMessage` in the delegate's language (English or Simplified Chinese), with a plain-text
and an HTML part from the templates in `templates/<language>/<kind>.{txt,html}`.

Pure functions: values in, a message out; the caller sends it."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared import events as ev
from shared.badges import qr_png
from shared.dates import event_dates
from shared.printing.badge_print import PrintedBadge, badge_pdf
from shared.printing.transliteration import transliterate

# Kinds of message. The first four carry the badge (QR inline, PNG and printable PDF attached).
BADGE_MAIL = "badge-mail"  # registered and confirmed at once
APPROVED = "approved"  # approved by an organiser, with the badge
PROMOTED = "promoted"  # promoted from the waitlist, with the badge
REISSUED = "badge-reissued"  # a new badge; the old one no longer opens any gate
RECEIVED = "received"  # registered, pending approval
WAITLISTED = "waitlisted"  # registered or approved into a full category
REJECTED = "rejected"  # with the organisers' reason
CANCELLED = "cancelled"  # by the delegate, an organiser, or a substitution in the delegation
REMINDER = "reminder"  # the day before the event, to every confirmed delegate
BADGE_KINDS = frozenset({BADGE_MAIL, APPROVED, PROMOTED, REISSUED})
KINDS = (BADGE_MAIL, APPROVED, PROMOTED, REISSUED, RECEIVED, WAITLISTED, REJECTED, CANCELLED,
         REMINDER)  # fmt: skip

LANGUAGES = ("en", "zh")
CONTENT_LANGUAGE = {"en": "en", "zh": "zh-Hans"}
SUBJECTS = {
    "en": {
        BADGE_MAIL: "Your badge for {event}",
        APPROVED: "Your registration for {event} is approved: your badge",
        PROMOTED: "A place has opened for you at {event}: your badge",
        REISSUED: "Your new badge for {event}",
        RECEIVED: "We have received your registration for {event}",
        WAITLISTED: "You are on the waiting list for {event}",
        REJECTED: "Your registration for {event}",
        CANCELLED: "Your registration for {event} is cancelled",
        REMINDER: "See you tomorrow at {event}",
    },
    "zh": {
        BADGE_MAIL: "您的{event}参会证件",
        APPROVED: "您的{event}报名已获批准：参会证件",
        PROMOTED: "您已由候补转为正式参会：{event}参会证件",
        REISSUED: "您的{event}新参会证件",
        RECEIVED: "我们已收到您的{event}报名",
        WAITLISTED: "您已进入{event}候补名单",
        REJECTED: "关于您的{event}报名",
        CANCELLED: "您的{event}报名已取消",
        REMINDER: "{event}明天开幕，期待与您相见",
    },
}
DEFAULT_COLOUR = "#1f6feb"  # the band of a category whose colour notify is not told
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def choose(event_type: str, payload: dict) -> str | None:
    """The message a delegate's change calls for (a `DelegateChanged` payload as loaded), or
    None: corrections that leave the badge as it was, and revocations, are not mailed."""
    status, badge = payload["delegate"]["status"], payload["badge"]
    detail = payload.get("detail") or {}
    active = badge is not None and badge["status"] == "active"
    if event_type == ev.DELEGATE_REGISTERED:
        if status == "confirmed" and active:
            return BADGE_MAIL
        return {"pending": RECEIVED, "waitlisted": WAITLISTED}.get(status)
    if event_type == ev.DELEGATE_CONFIRMED and active:
        return PROMOTED if detail.get("promoted") else APPROVED
    if event_type == ev.BADGE_REISSUED and active:
        return REISSUED
    return {
        ev.DELEGATE_WAITLISTED: WAITLISTED,
        ev.DELEGATE_REJECTED: REJECTED,
        ev.DELEGATE_CANCELLED: CANCELLED,
    }.get(event_type)


@dataclass(frozen=True)
class Letter:
    """Everything one message says. `delegate` holds at least display_name, email and
    language; `badge` a BadgeInfo with its token, or None."""

    kind: str
    event: dict
    delegate: dict
    badge: dict | None = None
    detail: dict = field(default_factory=dict)
    manage_url: str | None = None
    event_type: str | None = None


class UnsafeHeader(ValueError):
    """A value meant for a header that no line-break clean-up can make safe."""


class _RecurringHeaders(HeaderRegistry):
    """The standard header registry, but a header value set as text is parsed once a process:
    most of a mail's headers are the same in every mail (the sender, each part's Content-Type,
    Content-Transfer-Encoding and Content-Disposition), and email's parser took a fifth of the
    time a badge mail took to build. Header objects are immutable, so mails share them."""

    def __call__(self, name: str, value: object) -> BaseHeader:
        if isinstance(value, str):
            return _parsed_header(name, value)
        return super().__call__(name, value)  # an Address, a datetime: rarely the same twice


_REGISTRY = HeaderRegistry()


@functools.lru_cache(maxsize=512)  # a mail sets about a dozen values of its own
def _parsed_header(name: str, value: str) -> BaseHeader:
    return _REGISTRY(name, value)


# email.policy.default, as mail clients and smtplib read it, with the registry above.
POLICY = policy.default.clone(header_factory=_RecurringHeaders())


@cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def language_of(code: str) -> str:
    """The language we write in for a delegate's language code ("zh-CN" → "zh"); English
    for any we have no templates for."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else "en"


def message_id(idempotency_key: str, domain: str = "rollcall") -> str:
    """A Message-ID that is the same every time for one message, so a duplicate is visible."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"


def one_line(value: str) -> str:
    """`value` fit for a header: line breaks and other control characters become spaces, so
    a name can never end a header and start another (header injection)."""
    return " ".join(_CONTROL.sub(" ", value or "").split())


def addressee(name: str, title: str, language: str) -> str:
    """How the greeting names someone: "Mayor Clara Brugada", "王小明市长"."""
    if not title:
        return name
    if language == "zh" and _HAN.search(title):
        return f"{name}{title}"
    return f"{title} {name}"


def build(letter: Letter, *, mail_from: str, idempotency_key: str, now: datetime) -> EmailMessage:
    """The message for `letter`: text and HTML parts in the delegate's language; for a badge
    kind the QR inline, and `badge-<id>.png` and the printable `badge-<id>.pdf` attached."""
    event, delegate, badge = letter.event, letter.delegate, letter.badge
    language = language_of(delegate["language"])
    name = one_line(delegate["display_name"])
    if not name:
        raise UnsafeHeader("the display name is empty")

    message = EmailMessage(policy=POLICY)
    message["From"] = mail_from
    domain = message["From"].addresses[0].domain or "rollcall"
    message["To"] = Address(display_name=name, addr_spec=delegate["email"])
    message["Subject"] = SUBJECTS[language][letter.kind].format(event=one_line(event["name"]))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = mid = message_id(idempotency_key, domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please

    with_badge = letter.kind in BADGE_KINDS or (
        letter.kind == REMINDER and badge is not None and badge.get("token")
    )
    if letter.kind in BADGE_KINDS and (badge is None or badge["status"] != "active"):
        raise ValueError(f"a {letter.kind} message needs an active badge")
    png = qr_png(badge["token"]) if with_badge else None
    qr_cid = f"qr-{mid[1:17]}@{domain}"  # deterministic like the Message-ID it comes from
    detail = letter.detail or {}
    context = {
        "kind": letter.kind,
        "name": name,
        "addressee": addressee(name, one_line(delegate.get("title") or ""), language),
        "delegation": delegate.get("delegation"),
        "event": event,
        "dates": event_dates(event["starts_on"], event["ends_on"], language),
        "badge": badge if with_badge else None,
        "qr_cid": qr_cid,
        "manage_url": letter.manage_url,
        "reason": detail.get("reason") or delegate.get("status_reason"),
        "substituted_by": detail.get("substituted_by"),
        "approved_first": letter.event_type == ev.DELEGATE_WAITLISTED,
        "lang": CONTENT_LANGUAGE[language],
    }
    templates = _templates()
    base = f"{language}/{letter.kind}"
    text = templates.get_template(f"{base}.txt").render(context)
    html = templates.get_template(f"{base}.html").render(context)
    message.set_content(text)
    # Each make_* is what the add_* after it would do, with the boundary given.
    message.make_alternative(boundary=_boundary("alternative", text, html))
    message.add_alternative(html, subtype="html")
    if png is not None:
        html_part = message.get_payload()[1]
        html_part.make_related(boundary=_boundary("related", text, html))
        html_part.add_related(png, "image", "png", cid=f"<{qr_cid}>")
    if letter.kind in BADGE_KINDS:
        message.make_mixed(boundary=_boundary("mixed", text, html))
        message.add_attachment(
            png, maintype="image", subtype="png", filename=f"badge-{badge['id']}.png"
        )
        pdf = badge_pdf(printed_badge(event, delegate, badge))
        message.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=f"badge-{badge['id']}.pdf"
        )
    # Set last: making the message multipart moves Content-* headers into the first part.
    message["Content-Language"] = CONTENT_LANGUAGE[language]
    return message


def _boundary(subtype: str, *bodies: str) -> str | None:
    """The boundary of a multipart/`subtype`: the same in every mail, so its Content-Type is
    parsed once a process (`_RecurringHeaders`), where email's generator would make a random
    one and compile a regular expression to look for it in the flattened parts (a tenth of a
    badge mail's time). None (a random one, as before) if a body holds it: attachments are in
    base64 and text parts, when encoded, in base64 or quoted-printable, neither of which can
    hold "=_", so only a body sent as it is could."""
    boundary = f"=_rollcall-{subtype}"
    return None if any(boundary in body for body in bodies) else boundary


def printed_badge(event: dict, delegate: dict, badge: dict) -> PrintedBadge:
    """The printable badge, as registration prints it, from what the event carries."""
    name = delegate["display_name"]
    return PrintedBadge(
        display_name=name,
        latin_name=delegate.get("latin_name") or transliterate(name),
        organisation=delegate.get("organisation", ""),
        city=delegate.get("city", ""),
        country_code=delegate.get("country", ""),
        category_label=delegate.get("category_label")
        or delegate.get("category", "").replace("-", " ").title(),
        category_colour=colour
        if _HEX.fullmatch(colour := delegate.get("category_colour") or "")
        else DEFAULT_COLOUR,
        event_name=event["name"],
        event_dates=event_dates(event["starts_on"], event["ends_on"], "en"),
        token=badge["token"],
        badge_id=badge["id"],
    )
