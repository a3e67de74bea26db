"""The badges section: QR PNGs and badge PDFs rendered per second per core, in this process,
with the functions registration and notify call (shared.printing.badge_print). Per core means
per CPU-second of this single-threaded process, so other load on the machine does not count
against it; the wall-clock rate is reported beside it."""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.badges import BadgeClaim, BadgeSigner, generate_keypair
from shared.printing.badge_print import PrintedBadge, badge_pdf, badge_png

NAMES = [
    ("王小明", "Wang Xiaoming"),
    ("Clara Brugada Molina", None),
    ("Σίμος Ρούσσος", "Simos Roussos"),
]


def _rate(render: Callable[[int], bytes], count: int) -> dict:
    render(0)  # fonts and caches loaded once, as in a long-running worker
    cpu, wall = time.process_time(), time.perf_counter()
    size = sum(len(render(n)) for n in range(1, count + 1))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "count": count,
        "per_core_second": round(count / cpu, 1) if cpu else None,
        "per_wall_second": round(count / wall, 1) if wall else None,
        "mean_kb": round(size / count / 1024, 1),
    }


def rendering(qr_count: int, pdf_count: int) -> dict:
    signer = BadgeSigner(generate_keypair()[0])
    tokens = [signer.sign(BadgeClaim(7, n + 1, 1)) for n in range(max(qr_count, pdf_count) + 1)]

    def pdf(n: int) -> bytes:
        name, latin = NAMES[n % len(NAMES)]
        return badge_pdf(
            PrintedBadge(
                display_name=name,
                latin_name=latin,
                organisation="Bench City Government",
                city="Guangzhou",
                country_code="CN",
                category_label="Mayor or governor",
                category_colour="#b3261e",
                event_name="Global Mayors' Forum 2023",
                event_dates="7–9 December 2023",
                token=tokens[n],
                badge_id=n + 1,
            )
        )

    return {"qr_png": _rate(lambda n: badge_png(tokens[n]), qr_count), "pdf": _rate(pdf, pdf_count)}
