"""What hostile text does once stored: nothing. A name, title or organisation cannot add a
header to the mail the real notify code sends over real SMTP; HTML and script in every text
an organiser or delegate writes stay text on every page, in the mail's HTML and on the badge
PDF; and a cell that a spreadsheet would run as a formula is neutralised in every export."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import update

from rollcall.smtp_sink import SmtpSink
from services.notify import dispatch
from services.notify.mailer import SmtpMailer
from services.registration.models import Registration
from shared.events import NOTIFY_DELEGATE, parse
from tests.integration.conftest import Forum, bearer, delegate
from tests.support.processes import free_port, wait_until

pytestmark = [
    pytest.mark.integration,
    # What is stored and shown does not depend on the database kind (the input tests run both).
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
JS_URL = "javascript:alert(3)"
MARKUP = [SCRIPT, IMG, "<b>bold</b>", "</script><!--"]
# The headers every mail carries; an injected one would add a name to this set.
MAIL_HEADERS = {"from", "to", "subject", "date", "message-id", "auto-submitted", "content-language"}
# Header breakers that survive input checks (line and paragraph separators fold to spaces)
# and ones that do not (CR, LF, NUL: a 422 naming the field).
FOLDED = ["Eve\u2028Bcc: spy@evil.example", "Eve\u2029X-Injected: yes", "Eve  Bcc: a@evil.example"]
REFUSED = ["Eve\r\nBcc: spy@evil.example", "Eve\nX-Injected: yes", "Eve\rCc: x@evil.example"]
TEXT_FIELDS = ("given_name", "family_name", "organisation", "city", "title", "latin_name")


class Mailbox:
    """notify's real delivery: the forum's `notify.delegate_message` events dispatched as the
    worker does, sent with the real SmtpMailer to a real SMTP sink; the mails as received."""

    def __init__(self, forum: Forum, build_app, directory: Path):
        from services import notify

        self.forum, self.directory = forum, directory
        port = free_port()
        self.sink = SmtpSink(directory, port=port).start()
        settings = dataclasses.replace(forum.settings, smtp_port=port)
        app = build_app(notify, settings)
        self.outlet = dispatch.Outlet(
            app.extensions["notify"].db.sessions,
            SmtpMailer(settings).send,
            "Rollcall <rollcall@forum.example>",
            lambda delegate_id, nonce: f"https://forum.example/manage/{delegate_id}",
            lambda: datetime.now(UTC),
        )

    def deliver(self, registration_id: int, alter=None) -> list:
        """Dispatch every delegate message for a registration (its payload changed by `alter`
        first, as a producer bug would); the parsed mails that arrived."""
        self.forum.replicate()
        before = len(self.sink.messages())
        sent = 0
        for task, envelope in self.forum.published:
            if task != NOTIFY_DELEGATE:
                continue
            loaded, payload = parse(envelope)
            if payload["delegate"]["id"] != registration_id:
                continue
            if alter:
                alter(payload)
            try:
                dispatch.delegate_changed(loaded, payload, self.outlet)
                sent += 1
            except ValueError:
                pass  # refused as unsafe: no mail at all is also no injected header
        wait_until(lambda: len(self.sink.messages()) >= before + sent, 10, "the mails")
        return [
            message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in self.sink.messages()[before:]
        ]


@pytest.fixture
def mailbox(forum, build_app, tmp_path):
    box = Mailbox(forum, build_app, tmp_path / "mail")
    yield box
    box.sink.stop()


def injected_headers(mail, email: str) -> list[str]:
    """What is wrong with a mail's headers: a header beyond the expected ones, a recipient
    beyond the delegate, a header value on more than one line."""
    problems = []
    names = {name.lower() for name in mail} - {"mime-version", "content-type"}
    problems += [f"header {n}" for n in names - MAIL_HEADERS]
    recipients = [a.addr_spec for a in mail["To"].addresses]
    if recipients != [email]:
        problems.append(f"recipients {recipients}")
    problems += [f"{n} spans lines" for n, v in mail.items() if "\n" in str(v) or "\r" in str(v)]
    return problems


def test_line_breaks_in_names_are_refused_or_folded_and_add_no_mail_header(forum, mailbox):
    problems = []
    for field in TEXT_FIELDS:
        for value in REFUSED:
            body = delegate(**{field: value})
            response = forum.registration.post("/api/v1/events/gmf2023/registrations", json=body)
            fields = (response.get_json().get("error") or {}).get("fields", {})
            if response.status_code != 422 or field not in fields:
                problems.append(f"{field}={value!r}: {response.status_code}")
    for number, value in enumerate(FOLDED):
        email = f"folded-{number}@example.org"
        fields = dict.fromkeys(("given_name", "family_name", "title", "organisation"), value)
        mails = mailbox.deliver(forum.register(email=email, **fields)["id"])
        if len(mails) != 1:
            problems.append(f"{value!r}: {len(mails)} mails")
            continue
        problems += [f"{value!r}: {p}" for p in injected_headers(mails[0], email)]

    assert problems == [], "\n".join(problems)


def test_line_breaks_a_producer_let_through_add_no_mail_header_either(forum, mailbox):
    """Defence in depth: notify makes every header value one line whatever an event says."""
    breaker = "Eve\r\nBcc: spy@evil.example\r\nX-Injected: yes"
    problems = []
    for where in ("display_name", "given_name", "title", "event name", "event venue"):

        def alter(payload, where=where):
            if where.startswith("event"):
                payload["event"][where.split()[1]] = breaker
            else:
                payload["delegate"][where] = breaker

        mails = mailbox.deliver(forum.register()["id"], alter)
        if len(mails) != 1:
            problems.append(f"{where}: {len(mails)} mails")
            continue
        email = mails[0]["To"].addresses[0].addr_spec
        problems += [f"{where}: {p}" for p in injected_headers(mails[0], email)]
        if "evil.example" in email:
            problems.append(f"{where}: sent to {email}")

    assert problems == [], "\n".join(problems)


def assert_inert(html: str) -> None:
    """No hostile markup as markup: every tag escaped, no script URL in an attribute, and a
    JSON island that cannot be closed early."""
    for markup in MARKUP:
        assert markup not in html, markup
    assert not re.search(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", html, re.I)
    for island in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S):
        assert "<!--" not in island and "</" not in island


def hostile_event(forum: Forum) -> None:
    """An event whose every text an organiser writes is markup, replicated to checkin."""
    created = forum.registration.post(
        "/api/v1/events",
        json={
            "slug": "hostile-forum",
            "name": SCRIPT,
            "venue": IMG,
            "timezone": "Asia/Shanghai",
            "starts_on": "2030-05-01",
            "ends_on": "2030-05-02",
            "translations": {"zh": {"name": "</script><!--", "venue": "<b>bold</b>"}},
            "categories": [
                {"code": "guest", "label": IMG, "labels": {"zh": SCRIPT}, "capacity": 5},
            ],
        },
        headers=bearer(forum.organizer_token),
    )
    assert created.status_code == 201, created.get_json()
    forum.replicate()


def test_markup_in_every_text_stays_text_on_the_pages_in_the_mail_and_on_the_badge(forum, mailbox):
    hostile_event(forum)
    registered = forum.register(
        given_name=SCRIPT, family_name=IMG, title="<b>bold</b>", organisation=JS_URL
    )

    pages = {
        f"register {lang}": forum.registration.get(f"/events/hostile-forum/register?lang={lang}")
        for lang in ("en", "zh")
    }
    pages["dashboard list"] = forum.checkin.get("/dashboard")
    pages["dashboard"] = forum.checkin.get("/dashboard/hostile-forum")
    pages["scan"] = forum.checkin.get("/scan")
    mail = mailbox.deliver(registered["id"])[0]
    pdf = forum.registration.get(
        f"/api/v1/registrations/{registered['id']}/badge.pdf",
        headers=bearer(forum.organizer_token),
    )

    for name, page in pages.items():
        assert page.status_code == 200, name
        assert_inert(page.get_data(as_text=True))
    english = pages["register en"].get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in english  # shown, as text
    assert_inert(mail.get_body(("html",)).get_content())
    assert SCRIPT in mail.get_body(("plain",)).get_content()  # plain text is literal
    assert pdf.status_code == 200
    printed = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert SCRIPT in printed.replace("\n", "")  # printed as written
    assert not re.search(rb"/(JavaScript|JS|Launch|SubmitForm|ImportData)\b", pdf.data)


# --- exports ----------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)"]
# A tab or CR leading a cell cannot come in through the API (control characters are refused
# and white space trimmed), so they are stored directly: an older import, a database fix.
STORED_ONLY = ["\t=1+1", "\r=1+1"]
EXPORTS = ("registrations.csv", "registrations.xlsx", "badges.csv", "badges.xlsx")
LEADING = ("=", "+", "-", "@", "\t", "\r")


def export_cells(forum: Forum, name: str) -> list[str]:
    response = forum.registration.get(
        f"/api/v1/events/gmf2023/exports/{name}", headers=bearer(forum.organizer_token)
    )
    assert response.status_code == 200, name
    if name.endswith(".csv"):
        rows = csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline=""))
        return [cell for row in rows for cell in row]
    book = load_workbook(io.BytesIO(response.data))
    cells = [cell for row in book.active.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells), name  # not one formula
    return [cell.value for cell in cells if isinstance(cell.value, str)]


def test_a_formula_in_any_text_is_neutralised_in_every_export(forum):
    fields = ("given_name", "family_name", "organisation", "city")
    ids = [forum.register(**dict.fromkeys(fields, formula))["id"] for formula in FORMULAS]
    for formula in FORMULAS:  # needs typed in the delegate's own corrections
        registration_id = ids[FORMULAS.index(formula)]
        forum.registration.patch(
            f"/api/v1/registrations/{registration_id}",
            json={"dietary": formula, "accessibility": formula},
            headers=bearer(forum.organizer_token),
        )
    for value in STORED_ONLY:
        registration_id = forum.register()["id"]
        engine = forum.registration.application.extensions["registration"].db.engine
        with engine.begin() as connection:
            connection.execute(
                update(Registration)
                .where(Registration.id == registration_id)
                .values(given_name=value, organisation=value, city=value, dietary=value)
            )

    problems = []
    for name in EXPORTS:
        cells = export_cells(forum, name)
        problems += [f"{name}: {c!r}" for c in cells if c.startswith(LEADING)]
        neutralised = [c for c in cells if c.startswith("'") and c[1:2] in "".join(LEADING)]
        if not neutralised:
            problems.append(f"{name}: no neutralised cell at all")

    assert problems == [], "\n".join(problems)
