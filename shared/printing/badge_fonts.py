"""The badge's fonts: vendored Noto subsets (fonts/README.md), a face chosen for each
character, and for each document a subset of just the glyphs it shows.

fpdf2 subsets with fontTools when it writes a PDF, which for a 24,000-glyph CJK font costs
about 270 ms a document; HarfBuzz's subsetter (uharfbuzz, which fpdf2 uses to shape Arabic
anyway) cuts the few glyphs a badge needs in a fifth of a millisecond, so each document gets
tiny fonts. fpdf2's own pass over them still cost about half of a badge PDF's time:
`pdf_output.PresubsetOutput` writes the PDF without it.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import uharfbuzz as hb
from fpdf import FPDF

FONTS_DIR = Path(__file__).parent / "fonts"


@dataclass(frozen=True)
class _Family:
    file: str  # the name before -Bold.ttf, -Regular.ttf
    above: float  # ems a line needs above its baseline: accents on capitals, Arabic marks
    below: float  # and below it: descenders


# Latin first, so Latin letters in a Chinese line keep the Latin design. Each face is its own
# fpdf2 family, so a run never needs fpdf2's fallback fonts (which lose the selected font
# after a line that starts with a fallback glyph).
_FAMILIES = {
    "latin": _Family("NotoSans", 0.86, 0.24),  # Latin, Greek, Cyrillic
    "cjk": _Family("NotoSansSC", 0.88, 0.12),  # bold: every CJK Unified Ideograph, kana, Hangul
    "arabic": _Family("NotoSansArabic", 1.08, 0.56),
    "hebrew": _Family("NotoSansHebrew", 0.86, 0.26),
    "georgian": _Family("NotoSansGeorgian", 1.0, 0.26),
    "armenian": _Family("NotoSansArmenian", 0.86, 0.26),
    "thai": _Family("NotoSansThai", 1.0, 0.45),
    "devanagari": _Family("NotoSansDevanagari", 1.25, 0.4),
}
_WEIGHTS = {True: "b", False: "r"}
_FILES = {f"{key}-{w}": f"{family.file}-{'Bold' if w == 'b' else 'Regular'}.ttf"
          for key, family in _FAMILIES.items() for w in _WEIGHTS.values()}  # fmt: skip
# The asked-for weight first; then the other, so a rare character missing from the regular
# CJK subset (GB 2312) comes from the bold one (all of the main CJK block).
_ORDER = {bold: [f"{key}-{w}" for w in (_WEIGHTS[bold], _WEIGHTS[not bold]) for key in _FAMILIES]
          for bold in _WEIGHTS}  # fmt: skip

Run = tuple[str, str]  # (face, text)


@functools.cache
def _face(key: str) -> tuple[hb.Face, hb.Font, frozenset[int]]:
    """A face, a font to shape with and the code points it covers, read once per process."""
    face = hb.Face(hb.Blob.from_file_path(FONTS_DIR / _FILES[key]))
    return face, hb.Font(face), frozenset(face.unicodes)


def _covers(key: str, char: str) -> bool:
    return ord(char) in _face(key)[2]


def _ignorable(char: str) -> bool:
    # Joiners and direction marks shape the text around them and have no glyph of their own.
    return unicodedata.category(char) == "Cf"


@functools.lru_cache(maxsize=4096)  # layout asks for the runs of the same line many times
def runs(text: str, bold: bool) -> tuple[Run, ...]:
    """`text` cut into runs that one face each can draw."""
    order = _ORDER[bold]
    out: list[Run] = []
    for char in text:
        current = out[-1][0] if out else None
        # Spaces, punctuation, digits and combining marks stay with the run they are in.
        neutral = not char.isalpha() or unicodedata.category(char).startswith("M")
        if current and (_ignorable(char) or (neutral and _covers(current, char))):
            key = current
        else:
            key = next((k for k in order if _covers(k, char)), current or order[0])
        if out and out[-1][0] == key:
            out[-1] = (key, out[-1][1] + char)
        else:
            out.append((key, char))
    # Spaces and punctuation where one run meets the next become runs of their own: in a
    # right-to-left line the runs are laid out in reverse (a bidi reordering at run level),
    # and "תל אביב · Israel" must keep its " · " between the two names.
    return tuple((key, part) for key, text in out for part in _edges(text) if part)


def _edges(text: str) -> tuple[str, str, str]:
    """A run's leading neutrals, its core from first to last letter (mark, digit), the rest."""
    solid = [i for i, c in enumerate(text) if c.isalnum() or unicodedata.category(c)[0] == "M"]
    if not solid:
        return text, "", ""
    return text[: solid[0]], text[solid[0] : solid[-1] + 1], text[solid[-1] + 1 :]


def direction(text: str) -> str | None:
    """ "rtl" or "ltr", by the first character with a strong direction (None if none)."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return None


def advance(key: str, text: str) -> float:
    """How far `text` set in face `key` reaches, in ems, shaped as fpdf2 shapes it (HarfBuzz
    with its default features: kerning, Arabic joining)."""
    face, font, _ = _face(key)
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(font, buffer)
    return sum(position.x_advance for position in buffer.glyph_positions) / face.upem


def extent(key: str) -> tuple[float, float]:
    """Ems a line set in face `key` needs above and below its baseline."""
    family = _FAMILIES[key.rsplit("-", 1)[0]]
    return family.above, family.below


def missing_glyphs(text: str) -> set[str]:
    """Characters of `text` that no badge font can draw (they would print as empty boxes)."""
    return {
        c
        for c in text
        if not c.isspace() and not _ignorable(c) and not any(_covers(k, c) for k in _FILES)
    }


def embed(pdf: FPDF, texts: Iterable[tuple[str, bool]], workdir: Path) -> None:
    """Add to `pdf`, as families named by face, subsets covering every (text, bold) given."""
    needed: dict[str, set[int]] = {}
    for text, bold in texts:
        for key, run in runs(text, bold):
            needed.setdefault(key, set()).update(map(ord, run))
    for key, codepoints in needed.items():
        subset_input = hb.SubsetInput()
        subset_input.unicode_set.update(codepoints)
        path = workdir / f"{key}.ttf"
        path.write_bytes(hb.subset(_face(key)[0], subset_input).blob.data)
        pdf.add_font(family=key, fname=path)
