"""Milliseconds of CPU per badge mail on notify's path, piece by piece, in one process: the QR
PNG, the printable PDF, the rest of `messages.build` (templates and the MIME tree), and the
flattening to bytes that `smtplib.SMTP.send_message` does before it writes to the socket.

    .venv/bin/python -m bench.micro.mail_path [--count 300] [--path]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.micro.mail_path --path

Each mail is a `delegate.registered` badge mail built as `dispatch.delegate_changed` builds it:
a fresh badge id and signed token, the delegate's manage link, their category's label and
colour; names Latin, Chinese (written to in Chinese) and Arabic in turn, so the glyphs each PDF
needs differ from one mail to the next. The QR and the PDF are timed inside `build`, as it calls
them (`messages.qr_png` and `messages.badge_pdf` wrapped); "MIME" is the rest of `build`. CPU
time of this process (time.process_time), which a busy, shared machine disturbs less than wall
time. Every mail is checked: its parts, the PNG's token, the PDF's text.

`--path` also times notify's whole handling of the event, `dispatch.delegate_changed`: the
replica's transaction, the notification's record, claim and finish, the mail built and handed
over SMTP, against a scratch database (bench.micro.world) and `rollcall.smtp_sink` in a process
of its own, whose CPU is not counted; one event at a time on a connection of its own, then in
batches over one connection each, as the `notify.delegate_message` task takes them.
"""

from __future__ import annotations

import argparse
import email
import io
import itertools
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from email import policy

import zxingcpp
from PIL import Image
from pypdf import PdfReader

from bench.micro.world import scratch_settings
from rollcall.processes import free_port, stop_process
from services import notify
from services.notify import dispatch, messages, replica
from services.notify.mailer import SmtpMailer
from services.notify.messages import BADGE_MAIL, Letter
from shared import events as ev
from shared.badges import BadgeClaim, BadgeSigner, generate_keypair
from shared.db import Database

SIGNER = BadgeSigner(generate_keypair()[0])
MAIL_FROM = "Rollcall <badges@rollcall.example>"
EVENT = {"id": 7, "slug": "gmf-2023", "name": "Global Mayors' Forum 2023",
         "venue": "Yuexiu International Congress Center", "timezone": "Asia/Shanghai",
         "starts_on": date(2023, 12, 7), "ends_on": date(2023, 12, 9)}  # fmt: skip
# (display name, given, family, language, title): what registration publishes for each.
PEOPLE = (
    ("Clara Brugada Molina", "Clara", "Brugada Molina", "es", "Mayor"),
    ("José Ángel Núñez Ibáñez", "José Ángel", "Núñez Ibáñez", "en", ""),
    ("王小明", "小明", "王", "zh-CN", "市长"),
    ("محمد بن راشد", "محمد", "بن راشد", "ar", ""),
    ("Anne Hidalgo", "Anne", "Hidalgo", "fr", "Mayor"),
    ("欧阳修", "修", "欧阳", "zh", ""),
)
PIECES = ("QR PNG", "PDF", "MIME", "flatten")
_ids = itertools.count(100_000)


def letter(person: tuple[str, str, str, str, str]) -> Letter:
    """A registration's badge mail letter, with a fresh badge id and token."""
    name, given, family, language, title = person
    badge_id = next(_ids)
    delegate = {
        "id": badge_id, "revision": 1, "given_name": given, "family_name": family,
        "display_name": name, "email": f"d{badge_id}@example.org", "organisation":
        "Guangzhou Municipal People's Government", "city": "Guangzhou", "country": "CN",
        "category": "mayor", "language": language, "status": "confirmed", "title": title,
        "latin_name": None, "delegation": None, "manage_nonce": f"n{badge_id}",
        "category_label": "Mayor or governor", "category_colour": "#b91c1c",
    }  # fmt: skip
    token = SIGNER.sign(BadgeClaim(EVENT["id"], badge_id, 1))
    badge = {"id": badge_id, "version": 1, "status": "active", "reason": None, "token": token}
    manage = f"https://register.rollcall.example/manage/{badge_id}#t=abc"
    return Letter(BADGE_MAIL, EVENT, delegate, badge, {}, manage, ev.DELEGATE_REGISTERED)


class _Flattener(smtplib.SMTP):
    """`smtplib.SMTP.send_message` without a connection: the bytes it would send."""

    def __init__(self) -> None:
        super().__init__()
        self.ehlo_resp = b"rollcall.example"  # as if greeted: send_message greets otherwise
        self.sent = b""

    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()):
        self.sent = msg
        return {}


@contextmanager
def timed(spent: dict[str, float]) -> Iterator[None]:
    """Time `messages.qr_png` and `messages.badge_pdf` as `build` calls them, into `spent`."""

    def wrap(name: str, original: Callable) -> Callable:
        def measured(*args, **kwargs):
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[name] += time.process_time() - start

        return measured

    originals = messages.qr_png, messages.badge_pdf
    messages.qr_png = wrap("QR PNG", originals[0])
    messages.badge_pdf = wrap("PDF", originals[1])
    try:
        yield
    finally:
        messages.qr_png, messages.badge_pdf = originals


def mail(item: Letter, smtp: _Flattener, spent: dict[str, float]) -> bytes:
    """One mail built and flattened, its pieces' CPU time added to `spent`."""
    key = f"{item.delegate['id']}/{BADGE_MAIL}"
    before = dict(spent)
    start = time.process_time()
    message = messages.build(item, mail_from=MAIL_FROM, idempotency_key=key, now=datetime.now(UTC))
    built = time.process_time()
    smtp.send_message(message)
    spent["flatten"] += time.process_time() - built
    inner = sum(spent[p] - before.get(p, 0.0) for p in ("QR PNG", "PDF"))
    spent["MIME"] += built - start - inner
    return smtp.sent


def check(raw: bytes, item: Letter) -> None:
    """The mail has its parts, the PNG carries the token and the PDF prints the name."""
    parsed = email.message_from_bytes(raw, policy=policy.default)
    names = [part.get_filename() for part in parsed.iter_attachments()]
    badge_id = item.badge["id"]
    assert names == [f"badge-{badge_id}.png", f"badge-{badge_id}.pdf"], names
    png, pdf = (part.get_content() for part in parsed.iter_attachments())
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found.text == item.badge["token"]
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert f"ID {badge_id}" in text, text
    assert parsed.get_body(("html",))["Content-Type"].params["charset"] == "utf-8"


def run(count: int) -> dict[str, float]:
    """ms of CPU per mail for each piece, over `count` mails."""
    items = [letter(PEOPLE[n % len(PEOPLE)]) for n in range(count + len(PEOPLE))]
    smtp = _Flattener()
    warm: dict[str, float] = defaultdict(float)
    with timed(warm):  # fonts, templates and imports loaded once, as in a long-running worker
        for item in items[: len(PEOPLE)]:
            check(mail(item, smtp, warm), item)
    spent: dict[str, float] = defaultdict(float)
    with timed(spent):
        start = time.process_time()
        for item in items[len(PEOPLE) :]:
            mail(item, smtp, spent)
        total = time.process_time() - start
    figures = {piece: 1000 * spent[piece] / count for piece in PIECES}
    figures["total"] = 1000 * total / count
    return figures


@contextmanager
def smtp_sink(mail_dir: str) -> Iterator[int]:
    """`rollcall.smtp_sink` in its own process on a free port; yields the port once it answers."""
    port = free_port()
    env = {**os.environ, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "MAIL_DIR": mail_dir}
    sink = subprocess.Popen([sys.executable, "-m", "rollcall.smtp_sink"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or sink.poll() is not None:
                    raise RuntimeError("the SMTP sink did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        stop_process(sink)


def registered(item: Letter, sequence: int) -> dict:
    """The `delegate.registered` envelope that registration would publish for `item`."""
    delegate = {k: v for k, v in item.delegate.items() if not k.startswith("category_")}
    event = {**EVENT, "starts_on": EVENT["starts_on"].isoformat(),
             "ends_on": EVENT["ends_on"].isoformat()}  # fmt: skip
    payload = {"event": event, "delegate": delegate, "badge": item.badge, "detail": {}}
    return {"event_id": str(uuid.uuid4()), "type": ev.DELEGATE_REGISTERED,
            "producer": "registration", "sequence": sequence,
            "occurred_at": datetime.now(UTC).isoformat(), "version": ev.ENVELOPE_VERSION,
            "payload": payload}  # fmt: skip


def run_path(count: int) -> tuple[float, float]:
    """ms of CPU per `delegate.registered` event through `dispatch.delegate_changed`, alone
    and in batches as the task takes them."""
    with tempfile.TemporaryDirectory() as mail_dir, smtp_sink(mail_dir) as port:
        env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "MAIL_DIR": mail_dir,
               "MAIL_FROM": MAIL_FROM}  # fmt: skip
        with scratch_settings(**env) as (settings, _private):
            notify.migrate(settings)
            database = Database.at(settings.notify_database_url)
            try:
                return _timed_path(database, settings, count)
            finally:
                database.engine.dispose()


def _timed_path(database: Database, settings, count: int) -> tuple[float, float]:
    category = {"code": "mayor", "label": "Mayor or governor", "colour": "#b91c1c", "areas": []}
    with database.sessions.begin() as session:
        replica.apply_event(session, EVENT, 1, [category])
    mailer = SmtpMailer(settings)
    outlet = dispatch.Outlet(
        database.sessions, mailer.send, settings.mail_from,
        lambda delegate_id, _nonce: f"https://register.rollcall.example/manage/{delegate_id}",
        lambda: datetime.now(UTC),
    )  # fmt: skip
    envelopes = [registered(letter(PEOPLE[n % len(PEOPLE)]), n + 2) for n in range(count + 10)]
    for envelope in envelopes[:10]:  # warm: connections, fonts, templates
        assert dispatch.delegate_changed(*ev.parse(envelope), outlet) == "sent"
    start = time.process_time()
    for envelope in envelopes[10:]:
        assert dispatch.delegate_changed(*ev.parse(envelope), outlet) == "sent"
    alone = 1000 * (time.process_time() - start) / count
    # As the task takes them: batches (BATCH_LIMITS), one SMTP connection a batch.
    size = ev.BATCH_LIMITS[ev.NOTIFY_DELEGATE]
    more = [registered(letter(PEOPLE[n % len(PEOPLE)]), count + n + 20) for n in range(count)]
    start = time.process_time()
    for first in range(0, count, size):
        with mailer.one_connection():
            batch = [ev.parse(envelope) for envelope in more[first : first + size]]
            assert set(dispatch.delegates_changed(batch, outlet)) == {"sent"}
    return alone, 1000 * (time.process_time() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="mails")
    parser.add_argument("--path", action="store_true", help="also the whole delegate_changed")
    args = parser.parse_args()
    figures = run(args.count)
    print(f"ms of CPU a badge mail, {args.count} mails:")
    for piece, ms in figures.items():
        print(f"  {piece:<8}{ms:>8.2f}")
    if args.path:
        alone, batched = run_path(args.count)
        print(f"delegate_changed, event to SMTP: {alone:.2f} ms of CPU an event")
        print(f"  in batches over one connection: {batched:.2f} ms")


if __name__ == "__main__":
    main()
