"""The rehearsal's mail box: badge mails counted by delegate, every Message-ID counted, from
whole mails (QR codes read) or from their headers only, as the big runs read 200,000 of them."""

from __future__ import annotations

import os
import time
from email.message import EmailMessage

import pytest
import qrcode

from rollcall.rehearse.drive import Delegate
from rollcall.rehearse.mails import MailBox, MailTimeout


def qr_png(text: str) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    qrcode.make(text).save(buffer, format="PNG")
    return buffer.getvalue()


def mail(to: str, message_id: str, *, badge: tuple[int, str] | None) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = "forum@rollcall.test", f"A Delegate <{to}>"
    message["Subject"], message["Message-ID"] = "Your badge", message_id
    message.set_content("Welcome.")
    if badge:  # as notify sends a badge: multipart/mixed, the QR attached as badge-<id>.png
        badge_id, token = badge
        message.add_attachment(qr_png(token), maintype="image", subtype="png",
                               filename=f"badge-{badge_id}.png")  # fmt: skip
    return bytes(message)


@pytest.fixture
def box(tmp_path):
    def make(read_codes: bool) -> MailBox:
        delegates = {
            e: Delegate(n, e, "delegate") for n, e in enumerate(["ana@x.test", "bo@x.test"])
        }
        return MailBox(tmp_path, delegates, time.time() - 60, read_codes=read_codes)

    def deliver(name: str, raw: bytes, when: float | None = None) -> None:
        (tmp_path / f"{name}.eml").write_bytes(raw)
        if when is not None:
            os.utime(tmp_path / f"{name}.eml", (when, when))

    return make, deliver


@pytest.mark.parametrize("read_codes", [True, False])
def test_badge_mails_are_counted_by_delegate_and_doubles_found(box, read_codes):
    make, deliver = box
    mailbox = make(read_codes)
    deliver("1", mail("ana@x.test", "<1@r>", badge=(7, "TOKEN-ANA")))
    deliver("2", mail("bo@x.test", "<2@r>", badge=None))  # a reminder: no badge attached
    deliver("old", mail("bo@x.test", "<0@r>", badge=(8, "OLD")), when=time.time() - 3600)

    assert mailbox.read() == 1 and dict(mailbox.badge_mails) == {"ana@x.test": 1}
    ana = mailbox.delegates["ana@x.test"]
    assert (ana.badge_id, ana.token) == ((7, "TOKEN-ANA") if read_codes else (0, ""))

    deliver("3", mail("bo@x.test", "<3@r>", badge=(8, "TOKEN-BO")))
    deliver("4", mail("ana@x.test", "<4@r>", badge=(7, "TOKEN-ANA")))
    deliver("5", mail("ana@x.test", "<4@r>", badge=(7, "TOKEN-ANA")))  # the same message again
    mailbox.wait_for_badges(5, lambda n: None)
    assert mailbox.doubled() == {"ana@x.test": 3}
    assert mailbox.repeated_message_ids() == {"<4@r>": 2}


def test_a_badge_mail_that_never_comes_is_a_timeout_naming_how_many(box):
    make, deliver = box
    mailbox = make(read_codes=False)
    deliver("1", mail("ana@x.test", "<1@r>", badge=(7, "T")))
    with pytest.raises(MailTimeout, match="1 badge mails did not arrive"):
        mailbox.wait_for_badges(0.3, lambda n: None)
