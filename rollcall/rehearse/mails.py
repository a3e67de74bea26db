"""The delegates' side of the mail: each badge mail, as the SMTP sink keeps it (an `.eml` file
in the mail directory), read the way a gate reads a phone: the QR code in its PNG, decoded."""

from __future__ import annotations

import email
import io
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path

import zxingcpp
from PIL import Image

from rollcall.rehearse.drive import Delegate

HEAD_BYTES = 16384
BADGE_PNG = re.compile(r"badge-(\d+)\.png")


class MailTimeout(TimeoutError):
    """Some badge mails did not come in time."""


def new_mails(mail_dir: Path, since: float, seen: set[str], whole: bool) -> Iterator[Message]:
    """Messages stored since `since` (epoch seconds) that are not in `seen` yet: whole, or only
    their headers (the first bytes of the file), which is all a big run needs to count them."""
    with os.scandir(mail_dir) as entries:
        for entry in entries:
            if not entry.name.endswith(".eml") or entry.name in seen:
                continue
            if entry.stat().st_mtime < since:
                continue
            seen.add(entry.name)
            with open(entry.path, "rb") as raw:
                if whole:
                    # compat32, the fast parser: the modern policy is seven times slower.
                    yield email.message_from_binary_file(raw)
                else:
                    yield BytesHeaderParser().parsebytes(raw.read(HEAD_BYTES))


def qr_text(png: bytes) -> str | None:
    """The text of the one QR code in a PNG, as a gate's camera reads it."""
    pixels = Image.open(io.BytesIO(png)).convert("L")
    codes = zxingcpp.read_barcodes(pixels, formats=zxingcpp.BarcodeFormat.QRCode, try_rotate=False)
    return codes[0].text if len(codes) == 1 else None


def badge_of(message: Message) -> tuple[int, str] | None:
    """(badge id, the token in its QR code) of a mail carrying a badge, else None."""
    for part in message.walk():
        found = BADGE_PNG.fullmatch(part.get_filename() or "")
        if found and part.get_content_type() == "image/png":
            text = qr_text(part.get_payload(decode=True))
            if text:
                return int(found.group(1)), text
    return None


class MailBox:
    """The mail directory as the rehearsal reads it: each mail once, badge mails counted by
    delegate and every Message-ID counted. With `read_codes`, each badge mail is opened and its
    QR code read into the delegate's token; without (the tokens came from the badge print list),
    only the headers are read: a badge mail is the one multipart/mixed mail (its attachments)."""

    def __init__(self, mail_dir: Path, delegates: dict[str, Delegate], since: float,
                 read_codes: bool = True):  # fmt: skip
        self.mail_dir, self.delegates, self.since = mail_dir, delegates, since
        self.read_codes = read_codes
        self.seen: set[str] = set()
        self.badge_mails: Counter[str] = Counter()  # address → badge mails received
        self.message_ids: Counter[str] = Counter()

    def read(self) -> int:
        """Read the mails that came since the last look; returns how many delegates got their
        first badge mail."""
        first = 0
        for message in new_mails(self.mail_dir, self.since, self.seen, self.read_codes):
            self.message_ids[str(message.get("Message-ID", ""))] += 1
            if message.get_content_type() != "multipart/mixed":
                continue
            for _, address in getaddresses(message.get_all("To", [])):
                delegate = self.delegates.get(address.lower())
                if delegate is None:
                    continue
                if self.read_codes:
                    if not (badge := badge_of(message)):
                        continue
                    delegate.badge_id, delegate.token = badge
                first += not self.badge_mails[delegate.email]
                self.badge_mails[delegate.email] += 1
        return first

    def wait_for_badges(self, timeout: float, advance: Callable[[int], None]) -> None:
        """Read mails as they arrive until every delegate has had a badge mail."""
        missing = len(self.delegates) - len(self.badge_mails)
        deadline = time.monotonic() + timeout
        while missing:
            found = self.read()
            missing -= found
            advance(found)
            if missing and time.monotonic() > deadline:
                raise MailTimeout(f"{missing} badge mails did not arrive within {timeout:.0f} s")
            if missing and not found:
                time.sleep(0.2)  # the sink writes as notify sends: look again shortly

    def doubled(self) -> dict[str, int]:
        """Delegates who got more than one badge mail (nobody's badge was reissued)."""
        self.read()
        return {address: n for address, n in self.badge_mails.items() if n > 1}

    def repeated_message_ids(self) -> dict[str, int]:
        """Message-IDs that came more than once: the same message sent twice."""
        self.read()
        return {mid: n for mid, n in self.message_ids.items() if n > 1 and mid}
