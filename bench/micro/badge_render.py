"""QR PNGs and printable badge PDFs rendered a second on one core (one process, so one core
at most), each with distinct signed tokens, as the badge mail and the download make them.

    .venv/bin/python -m bench.micro.badge_render [--seconds 5]

Prints the rate by wall time and by this process's CPU time (the figure a busy, shared
machine disturbs less). The issue's target: at least 100 QR PNGs a second a core.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable

import zxingcpp
from PIL import Image

from shared.badges import BadgeClaim, BadgeSigner, generate_keypair, qr_png
from shared.printing.badge_print import PrintedBadge, badge_pdf

SIGNER = BadgeSigner(generate_keypair()[0])
NAMES = ("王小明", "Clara Brugada Molina", "Σίμος Ρούσσος", "محمد بن راشد", "Nguyễn Thị Lan")


def token(n: int) -> str:
    return SIGNER.sign(BadgeClaim(7, 100_000 + n, 1))


def printed(n: int) -> PrintedBadge:
    return PrintedBadge(
        display_name=NAMES[n % len(NAMES)], latin_name=None, organisation="Guangzhou Municipal",
        city="Guangzhou", country_code="CN", category_label="Mayor or governor",
        category_colour="#b3261e", event_name="Global Mayors' Forum 2023",
        event_dates="7–9 December 2023", token=token(n), badge_id=100_000 + n,
    )  # fmt: skip


def rate(make: Callable[[int], object], seconds: float) -> tuple[float, float, int]:
    """(per wall second, per CPU second, how many) of `make(n)` for n = 0, 1, … ."""
    wall, cpu, n = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - wall < seconds:
        make(n)
        n += 1
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    # A rate of wrong pictures is worth nothing: the PNG must decode to its token.
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(token(0)))))
    assert found.text == token(0)
    tokens = [token(n) for n in range(100_000)]  # signed beforehand: only rendering is timed
    for what, make in (
        ("QR PNGs", lambda n: qr_png(tokens[n])),
        ("badge PDFs (A6)", lambda n: badge_pdf(printed(n), "a6")),
    ):
        wall, cpu, n = rate(make, args.seconds)
        print(f"{what:<16}: {wall:7.1f} a second (wall), {cpu:7.1f} a CPU second ({n} made)")


if __name__ == "__main__":
    main()
