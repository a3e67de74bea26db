"""Text on a badge: each field fitted to its box (shrunk, then wrapped, never cut short) and
drawn run by run, one face per run."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from fpdf import FPDF

from shared.printing import badge_fonts

PT = 25.4 / 72  # mm in a typographic point
LINE_GAP = 0.12  # ems between one line's descenders and the next line's accents
FLOOR = 4.0  # pt: the smallest text anything shrinks to before it may overflow its box
_CJK = "\u2e80-\u30ff\u3400-\u9fff\uf900-\ufaff"
# CJK characters and kana may break anywhere; closing punctuation stays with what it closes.
_TOKEN = re.compile(rf"\s+|[{_CJK}][、。，．：；？！）」』】〉》”’]*|[^\s{_CJK}]+")
# A name breaks only between its parts: at spaces and after a middle dot (爱新觉罗·溥仪).
_NAME_TOKEN = re.compile(r"\s+|[^\s·・]+[·・]?|[·・]")


@dataclass(frozen=True)
class Role:
    """How one field is set."""

    bold: bool
    size: float  # pt, the largest
    min_size: float  # pt; below it, more lines than max_lines are allowed
    max_lines: int
    colour: str  # "#rrggbb"
    breaks_cjk: bool = True  # False for names: 王小明 shrinks rather than splits


Block = tuple[Role, str]


class Typesetter:
    """Measures and draws for one document; widths are cached per text."""

    def __init__(self, pdf: FPDF):
        self.pdf = pdf
        self._widths: dict[tuple[str, bool], float] = {}

    def width(self, text: str, bold: bool) -> float:
        """Width in mm at 1 pt (outlines scale linearly)."""
        if (text, bold) not in self._widths:
            ems = sum(badge_fonts.advance(key, run) for key, run in badge_fonts.runs(text, bold))
            self._widths[text, bold] = ems * PT
        return self._widths[text, bold]

    @staticmethod
    def extent(text: str, bold: bool) -> tuple[float, float]:
        """Ems above and below the baseline that a line of `text` needs."""
        boxes = [badge_fonts.extent(key) for key, _ in badge_fonts.runs(text, bold)]
        return max(a for a, _ in boxes), max(b for _, b in boxes)

    def height(self, lines: list[str], bold: bool, size: float) -> float:
        return sum(sum(self.extent(line, bold)) + LINE_GAP for line in lines) * size * PT

    def wrap(self, text: str, role: Role, size: float, width: float) -> tuple[list[str], bool]:
        """Greedy line breaking at spaces (and between CJK characters where the role allows);
        also says whether a word longer than a line had to be cut."""
        lines: list[str] = []
        line = ""
        pieces, cut = self._pieces(text, role, width / size)
        for piece in pieces:
            if line.strip() and self.width((line + piece).rstrip(), role.bold) * size > width:
                lines.append(line.strip())
                line = ""
            line += piece
        return ([*lines, line.strip()] if line.strip() else lines), cut

    def _pieces(self, text: str, role: Role, limit: float) -> tuple[list[str], bool]:
        pieces, cut = [], False
        for token in (_TOKEN if role.breaks_cjk else _NAME_TOKEN).findall(text):
            while self.width(token, role.bold) > limit and len(token) > 1:
                fits = [
                    i for i in range(1, len(token)) if self.width(token[:i], role.bold) <= limit
                ]
                at = fits[-1] if fits else 1
                while at > 1 and unicodedata.combining(token[at]):
                    at -= 1  # a combining mark stays with its letter
                pieces.append(token[:at])
                token, cut = token[at:], True
            pieces.append(token)
        return pieces, cut

    def fit(self, role: Role, text: str, width: float, height: float) -> tuple[float, list[str]]:
        """The largest size, and its lines, at which all of `text` fits the box: within
        max_lines if it can, else on more lines, and only at last with a word cut in two."""
        steps = [role.size - 0.5 * i for i in range(int((role.size - FLOOR) / 0.5) + 1)]
        plans = [(s, role.max_lines, False) for s in steps if s >= role.min_size]
        plans += [(s, 99, False) for s in steps if role.min_size >= s >= role.min_size * 0.6]
        plans += [(s, 99, True) for s in steps if s <= role.min_size]
        for size, max_lines, may_cut in plans:
            lines, cut = self.wrap(text, role, size, width)
            tall = self.height(lines, role.bold, size)
            if (may_cut or not cut) and len(lines) <= max_lines and tall <= height:
                return size, lines
        return FLOOR, self.wrap(text, role, FLOOR, width)[0]

    def stack(self, blocks: list[Block], box: tuple[float, float, float, float], align: str):
        """Blocks fitted into the box (x, y, width, height), one under the other, centred
        vertically; bigger roles get more of the height."""
        x, y, width, height = box
        gap = 0.6
        budget = height - gap * (len(blocks) - 1)
        sizes = sum(role.size for role, _ in blocks)
        fitted = [self.fit(r, t, width, budget * r.size / sizes) for r, t in blocks]

        def used() -> float:
            pairs = zip(blocks, fitted, strict=True)
            return sum(self.height(lines, r.bold, s) for (r, _), (s, lines) in pairs)

        # Height a block left unused goes to the blocks that had to shrink, in order.
        for i, (role, text) in enumerate(blocks):
            size, lines = fitted[i]
            if size < role.size and budget - used() > 0.5:
                room = self.height(lines, role.bold, size) + budget - used()
                fitted[i] = self.fit(role, text, width, room)
        top = y + max(0.0, (budget - used()) / 2)
        for (role, _), (size, lines) in zip(blocks, fitted, strict=True):
            for line in lines:
                above, below = self.extent(line, role.bold)
                baseline = top + above * size * PT
                self.line(role, line, size, x, baseline, width, align)
                top = baseline + (below + LINE_GAP) * size * PT
            top += gap

    def line(self, role: Role, text: str, size: float, x: float, baseline: float, width: float,
             align: str) -> None:  # fmt: skip
        """One line, run by run: fpdf2 shapes each run in its own face."""
        pdf, em = self.pdf, size * PT
        pdf.set_text_color(role.colour)
        left = x + (width - self.width(text, role.bold) * size) / 2 if align == "C" else x
        runs = badge_fonts.runs(text, role.bold)
        if badge_fonts.direction(text) == "rtl":  # runs from right to left, neutrals too
            runs = [(k, r if badge_fonts.direction(r) else r[::-1]) for k, r in reversed(runs)]
        for key, run in runs:
            run_width = badge_fonts.advance(key, run) * em
            pdf.set_font(key, size=size)
            if badge_fonts.plain(key, run):
                # Nothing to shape: set as it is, without the bidi pass and the shaping that a
                # cell makes, which were most of what a badge's text cost.
                pdf.text(left, baseline, run)
            else:
                # fpdf2 puts the baseline of a cell of height h at y + h/2 + 0.3 em.
                pdf.set_xy(left, baseline - 0.8 * em)
                pdf.cell(w=run_width, h=em, text=run)
            left += run_width
