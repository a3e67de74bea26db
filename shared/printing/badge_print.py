"""Printable badges: one badge as a PDF (A6, or the 4"×3" lanyard card) and A4 sheets of
many for the protocol office. Values in, bytes out: no Flask, no database.

fpdf2 draws them: pure Python (with fontTools and HarfBuzz), it embeds TrueType and CFF
OpenType fonts as real subsets and shapes Arabic. ReportLab cannot embed CFF-flavoured
OpenType (all of Noto CJK), and WeasyPrint needs Pango and Cairo from the system.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace

from fpdf import FPDF

from shared import countries
from shared.badges import qr_matrix, qr_png
from shared.printing import badge_fonts
from shared.printing.badge_fonts import missing_glyphs
from shared.printing.badge_text import Block, Role, Typesetter
from shared.printing.pdf_output import PresubsetOutput
from shared.printing.transliteration import transliterate

__all__ = [
    "PrintedBadge",
    "badge_pdf",
    "badge_png",
    "missing_glyphs",
    "print_sheet",
    "transliterate",
]

A4 = (210.0, 297.0)
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class PrintedBadge:
    display_name: str  # as the delegate writes it, in their script and order
    latin_name: str | None  # printed under a non-Latin name
    organisation: str
    city: str
    country_code: str  # ISO 3166-1 alpha-2
    category_label: str
    category_colour: str  # "#rrggbb", the band's colour
    event_name: str
    event_dates: str  # already formatted for people
    token: str  # the signed badge token the QR carries
    badge_id: int

    def __post_init__(self) -> None:
        if not _HEX.fullmatch(self.category_colour):
            raise ValueError(f"category_colour must be #rrggbb, not {self.category_colour!r}")


@dataclass(frozen=True)
class _Layout:
    width: float  # mm
    height: float
    margin: float
    header: float  # the event band at the top
    band: float  # the category band at the bottom
    qr: float  # side of the QR symbol; 4 modules of quiet zone lie outside it
    qr_beside: bool  # beside the text (landscape card) or under it (A6)
    name: Role
    latin: Role
    organisation: Role
    place: Role
    event: Role
    dates: Role
    label: Role


_INK, _GREY, _HEADER, _PALE = "#111827", "#4b5563", "#1f2937", "#d1d5db"
LAYOUTS = {
    "a6": _Layout(
        105, 148, margin=7, header=21, band=19, qr=36, qr_beside=False,
        name=Role(True, 40, 18, 2, _INK, breaks_cjk=False), latin=Role(False, 15, 9, 2, _GREY),
        organisation=Role(False, 12, 8, 3, _INK), place=Role(False, 10.5, 7.5, 2, _GREY),
        event=Role(True, 12.5, 7, 2, "#ffffff"), dates=Role(False, 9, 6, 1, _PALE),
        label=Role(True, 20, 9, 2, _INK),
    ),
    "lanyard": _Layout(  # 4 × 3 inches, landscape, as badge holders take it
        101.6, 76.2, margin=5, header=11, band=12.5, qr=30, qr_beside=True,
        name=Role(True, 26, 12, 2, _INK, breaks_cjk=False), latin=Role(False, 11, 7, 2, _GREY),
        organisation=Role(False, 9, 6.5, 3, _INK), place=Role(False, 8.5, 6.5, 2, _GREY),
        event=Role(True, 9, 6, 2, "#ffffff"), dates=Role(False, 7.5, 5.5, 2, _PALE),
        label=Role(True, 15, 7, 2, _INK),
    ),
}  # fmt: skip


def badge_png(token: str) -> bytes:
    """The badge's QR code as a PNG."""
    return qr_png(token)


def badge_pdf(badge: PrintedBadge, size: str = "a6") -> bytes:
    """One printable badge on a page of its own size."""
    layout = _layout(size)
    return _document([badge], layout, (layout.width, layout.height), [(0.0, 0.0)], False)


def print_sheet(badges: list[PrintedBadge], size: str = "a6") -> bytes:
    """Badges on A4 pages, as many to a page as fit, with light cut marks."""
    if not badges:
        raise ValueError("no badges to print")
    layout = _layout(size)
    return _document(badges, layout, A4, _grid(layout), True)


def _layout(size: str) -> _Layout:
    if size not in LAYOUTS:
        raise ValueError(f"size must be one of {sorted(LAYOUTS)}, not {size!r}")
    return LAYOUTS[size]


def _fields(badge: PrintedBadge, layout: _Layout) -> dict[str, Block]:
    """What the badge prints, each with its role."""
    place = " · ".join(p for p in (badge.city, countries.name(badge.country_code)) if p)
    fields = {
        "name": (layout.name, badge.display_name),
        "latin": (layout.latin, badge.latin_name or ""),
        "organisation": (layout.organisation, badge.organisation),
        "place": (layout.place, place),
        "event": (layout.event, badge.event_name),
        "dates": (layout.dates, badge.event_dates),
        "label": (replace(layout.label, colour=_on(badge.category_colour)),
                  badge.category_label.upper()),
        "id": (replace(layout.place, colour=_GREY), f"ID {badge.badge_id}"),
    }  # fmt: skip
    # A control character (a pasted line break) would print as a box: it becomes a space.
    return {k: (role, " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text).split()))
            for k, (role, text) in fields.items()}  # fmt: skip


def _document(
    badges: list[PrintedBadge],
    layout: _Layout,
    page: tuple[float, float],
    cells: list[tuple[float, float]],
    cut_marks: bool,
) -> bytes:
    pdf = FPDF(unit="mm", format=page)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.c_margin = 0
    pdf.set_creator("Rollcall")
    fields = [_fields(badge, layout) for badge in badges]
    badge_fonts.embed(pdf, [(text, role.bold) for f in fields for role, text in f.values()])
    pdf.set_text_shaping(True)
    setter = Typesetter(pdf)
    for start in range(0, len(badges), len(cells)):
        pdf.add_page()
        page_badges = badges[start : start + len(cells)]
        chunk = list(zip(page_badges, fields[start:], cells, strict=False))  # the last page
        for badge, badge_fields, (x, y) in chunk:
            _draw_badge(setter, badge, badge_fields, layout, x, y)
        if cut_marks:
            _cut_marks(pdf, cells[: len(chunk)], layout)
    return bytes(pdf.output(output_producer_class=PresubsetOutput))


def _draw_badge(
    setter: Typesetter, badge: PrintedBadge, fields: dict[str, Block], layout: _Layout,
    x: float, y: float,
) -> None:  # fmt: skip
    pdf, w, h, m = setter.pdf, layout.width, layout.height, layout.margin
    pdf.set_fill_color(_HEADER)
    pdf.rect(x, y, w, layout.header, style="F")
    pdf.set_fill_color(badge.category_colour)
    pdf.rect(x, y + h - layout.band, w, layout.band, style="F")
    band = (x + m, y + h - layout.band + 1, w - 2 * m, layout.band - 2)
    setter.stack([fields["label"]], band, "C")
    header = [fields["event"], fields["dates"]]
    quiet = 4 * layout.qr / 33  # four modules of a version-4 symbol, more than enough for 5
    if layout.qr_beside:
        setter.stack(header, (x + m, y + 0.8, w - 2 * m, layout.header - 1.6), "L")
        qr_x, qr_y = x + w - m - layout.qr, y + layout.header + quiet
        text_width = qr_x - quiet - 2 - x - m
        column = (x + m, y + layout.header + 2, text_width, h - layout.header - layout.band - 4)
    else:
        setter.stack(header, (x + m, y + 1.5, w - 2 * m, layout.header - 3), "C")
        qr_x, qr_y = x + (w - layout.qr) / 2, y + h - layout.band - quiet - layout.qr
        column = (x + m, y + layout.header + 2, w - 2 * m, qr_y - quiet - y - layout.header - 2)
    _draw_qr(pdf, badge.token, qr_x, qr_y, layout.qr)
    setter.stack([fields["id"]], (qr_x, qr_y + layout.qr + 0.5, layout.qr, 4), "C")
    blocks = [fields[k] for k in ("name", "latin", "organisation", "place") if fields[k][1]]
    setter.stack(blocks, column, "L" if layout.qr_beside else "C")


def _on(background: str) -> str:
    """White text on the band where it is legible as large text (WCAG contrast 3:1), else ink."""
    channels = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#ffffff" if 1.05 / (luminance + 0.05) >= 3 else _INK


def _draw_qr(pdf: FPDF, token: str, x: float, y: float, side: float) -> None:
    """The QR as vector squares, sharp at any printer resolution: shared.badges.qr_matrix, the
    symbol of the mail's PNG, without its quiet zone. Each run of dark modules in a row is one
    rectangle, a hair taller than a module so that no seam shows between rows. The 350 or so
    rectangles go to the page in one write, as `FPDF.rect(..., style="F")` writes each: a call
    of it apiece cost a tenth of a badge's time."""
    matrix = qr_matrix(token)
    module = side / len(matrix)
    pdf.set_fill_color("#000000")
    k, top = pdf.k, pdf.h
    rects = [
        f"{(x + start * module) * k:.2f} {(top - (y + row * module)) * k:.2f} "
        f"{length * module * k:.2f} {-module * 1.02 * k:.2f} re f"
        for row, cells in enumerate(matrix)
        for start, length in _dark_runs(cells)
    ]
    pdf._out("\n".join(rects))


def _dark_runs(cells: tuple[bool, ...]) -> list[tuple[int, int]]:
    """(first module, how many) of each run of dark modules in a row."""
    runs, col = [], 0
    for dark, group in itertools.groupby(cells):
        length = len(list(group))
        if dark:
            runs.append((col, length))
        col += length
    return runs


def _grid(layout: _Layout) -> list[tuple[float, float]]:
    """Where badges go on an A4 page: as many as fit, centred, 4 mm apart for cut marks
    where the gap costs no badge."""

    def count(total: float, size: float, gap: float) -> int:
        return int((total + gap + 1e-6) // (size + gap))

    (pw, ph), w, h = A4, layout.width, layout.height
    gx = 4.0 if count(pw, w, 4) == count(pw, w, 0) else 0.0
    gy = 4.0 if count(ph, h, 4) == count(ph, h, 0) else 0.0
    cols, rows = count(pw, w, gx), count(ph, h, gy)
    x0, y0 = (pw - cols * w - (cols - 1) * gx) / 2, (ph - rows * h - (rows - 1) * gy) / 2
    return [(x0 + c * (w + gx), y0 + r * (h + gy)) for r in range(rows) for c in range(cols)]


def _cut_marks(pdf: FPDF, cells: list[tuple[float, float]], layout: _Layout) -> None:
    """Crop marks in the margins and gaps; a dashed hairline where two badges touch."""
    pdf.set_draw_color("#9ca3af")
    pdf.set_line_width(0.15)
    rects = [(x, y, x + layout.width, y + layout.height) for x, y in cells]

    def free(px: float, py: float) -> bool:
        on_page = 0 <= px <= A4[0] and 0 <= py <= A4[1]
        return on_page and not any(a < px < c and b < py < d for a, b, c, d in rects)

    for x0, y0, x1, y1 in rects:
        for cx, cy, dx, dy in ((x0, y0, -1, -1), (x1, y0, 1, -1), (x0, y1, -1, 1), (x1, y1, 1, 1)):
            for ux, uy in ((dx, 0), (0, dy)):  # along each edge, outwards from the corner
                length = 0.0
                while length < 4 and free(cx + ux * (length + 1.5), cy + uy * (length + 1.5)):
                    length += 0.5
                if length >= 1:
                    pdf.line(cx + ux, cy + uy, cx + ux * (1 + length), cy + uy * (1 + length))
    pdf.set_dash_pattern(dash=1, gap=1.5)
    for ax0, ay0, ax1, ay1 in rects:
        for bx0, by0, _, _ in rects:
            if abs(ax1 - bx0) < 1e-6 and ay0 == by0:  # side by side
                pdf.line(ax1, ay0, ax1, ay1)
            if abs(ay1 - by0) < 1e-6 and ax0 == bx0:  # one above the other
                pdf.line(ax0, ay1, ax1, ay1)
    pdf.set_dash_pattern()
