"""Milliseconds of CPU per badge mail, per printable PDF and per QR PNG, in one process, for
Latin, Chinese and Arabic names, each badge with its own signed token, made as notify and
registration make them.

    .venv/bin/python -m bench.micro.badge_render [--count 200]

A mail is `services.notify.messages.build` (QR inline, the PNG and the PDF attached) and its
serialisation, as the mailer sends it. CPU time of this process, the figure a busy, shared
machine disturbs less than wall time (printed beside it). The issue's target: a badge mail
within 2 s of registering at a steady 50 registrations a second, on two cores shared with
registration and the gates.
"""

from __future__ import annotations

import argparse
import io
import itertools
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

import zxingcpp
from PIL import Image

from services.notify.messages import BADGE_MAIL, Letter, build, printed_badge
from shared.badges import BadgeClaim, BadgeSigner, generate_keypair, qr_png
from shared.printing.badge_print import badge_pdf

SIGNER = BadgeSigner(generate_keypair()[0])
EVENT = {"id": 7, "name": "Global Mayors' Forum 2023", "venue": "Yuexiu International Congress "
         "Center", "timezone": "Asia/Shanghai", "starts_on": date(2023, 12, 7),
         "ends_on": date(2023, 12, 9)}  # fmt: skip
SCRIPTS = {  # a few names each, so the glyphs a badge needs differ from one badge to the next
    "Latin": ("Clara Brugada Molina", "José Ángel Núñez Ibáñez", "Anne Hidalgo", "Sadiq Khan"),
    "Chinese": ("王小明", "张喆", "欧阳修", "李娜"),
    "Arabic": ("محمد بن راشد", "مريم الحسيني", "عبد الله الكعبي", "ليلى حداد"),
}
_ids = itertools.count(100_000)


def letter(name: str) -> Letter:
    """A badge mail's letter with a fresh badge id and token, so no cache keyed by the token
    outlives its mail."""
    badge_id = next(_ids)
    token = SIGNER.sign(BadgeClaim(EVENT["id"], badge_id, 1))
    delegate = {"display_name": name, "email": f"d{badge_id}@example.org", "language": "en",
                "organisation": "Guangzhou Municipal", "city": "Guangzhou", "country": "CN",
                "category": "mayor", "category_label": "Mayor or governor"}  # fmt: skip
    badge = {"id": badge_id, "version": 1, "status": "active", "token": token}
    return Letter(BADGE_MAIL, EVENT, delegate, badge)


def mail(item: Letter) -> bytes:
    now = datetime.now(UTC)
    key = f"{EVENT['id']}/{item.badge['id']}/badge-mail"
    return build(item, mail_from="Rollcall <badges@rollcall.example>", idempotency_key=key,
                 now=now).as_bytes()  # fmt: skip


def cost(
    make: Callable[[Letter], object], names: tuple[str, ...], count: int
) -> tuple[float, float]:
    """(ms of CPU, ms of wall time) per `make(letter)`, letters made beforehand."""
    items = [letter(names[n % len(names)]) for n in range(count)]
    make(letter(names[0]))  # fonts and templates loaded once, as in a long-running worker
    cpu, wall = time.process_time(), time.perf_counter()
    for item in items:
        make(item)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / count * 1000, wall / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="badges of each kind and script")
    args = parser.parse_args()
    # A cost of wrong pictures is worth nothing: the PNG must decode to its token.
    sample = letter("Clara Brugada Molina").badge["token"]
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(sample))))
    assert found.text == sample
    kinds = {
        "badge mail": mail,
        "PDF (A6)": lambda item: badge_pdf(printed_badge(item.event, item.delegate, item.badge)),
        "QR PNG": lambda item: qr_png(item.badge["token"]),
    }
    print(f"{'ms a badge':<12}" + "".join(f"{script:>22}" for script in SCRIPTS))
    for kind, make in kinds.items():
        figures = [cost(make, names, args.count) for names in SCRIPTS.values()]
        row = "".join(f"{cpu:>10.2f} CPU {wall:>6.2f} wall" for cpu, wall in figures)
        print(f"{kind:<12}{row}")


if __name__ == "__main__":
    main()
