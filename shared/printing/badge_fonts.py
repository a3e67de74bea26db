"""The badge's fonts: vendored Noto subsets (fonts/README.md), a face chosen for each
character, and each face parsed for fpdf2 once a process.

fpdf2 parses a font with fontTools when it is added (cmap, metrics, glyph names: 300 ms for
the 24,000-glyph bold CJK face) and subsets it with fontTools when it writes a PDF (270 ms).
Documents used to get HarfBuzz subsets of just their glyphs, written to a temporary file for
fpdf2 to parse again, which cost a quarter of a badge PDF's time. Now every document shares
one parse of each whole face (`embed`), and `pdf_output.PresubsetOutput` cuts the glyphs it
drew out of the face with HarfBuzz (uharfbuzz, which fpdf2 uses to shape Arabic anyway) in a
fraction of a millisecond, so each PDF still carries tiny fonts.
"""

from __future__ import annotations

import copy
import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import uharfbuzz as hb
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

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
    face, _, _ = _face(key)
    return sum(position.x_advance for _, position in _shaped(key, text)) / face.upem


# Bidi classes that leave a run left to right whatever surrounds it, in the order written.
_LEFT_TO_RIGHT = frozenset({"L", "EN", "ES", "ET", "CS", "WS", "ON"})


@functools.lru_cache(maxsize=4096)
def plain(key: str, text: str) -> bool:
    """Whether `text` in face `key` is the face's own glyph for each character at its own
    advance, left to right: no kerning, ligature, mark or joining, nothing for the bidi
    algorithm to reorder or mirror. fpdf2 draws such text the same without shaping it."""
    if not all(_stays_left_to_right(c) for c in text):
        return False
    _, font, _ = _face(key)
    nominal = [font.get_nominal_glyph(ord(c)) for c in text]
    if None in nominal:
        return False
    shaped = [(info.codepoint, pos.x_advance, pos.x_offset, pos.y_offset, pos.y_advance)
              for info, pos in _shaped(key, text)]  # fmt: skip
    return shaped == [(glyph, font.get_glyph_h_advance(glyph), 0, 0, 0) for glyph in nominal]


def _stays_left_to_right(char: str) -> bool:
    return unicodedata.bidirectional(char) in _LEFT_TO_RIGHT and not unicodedata.mirrored(char)


@functools.lru_cache(maxsize=4096)  # a badge measures a line's runs many times; mails repeat
def _shaped(key: str, text: str) -> tuple[tuple[hb.GlyphInfo, hb.GlyphPosition], ...]:
    _, font, _ = _face(key)
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(font, buffer)
    return tuple(zip(buffer.glyph_infos, buffer.glyph_positions, strict=True))


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


def embed(pdf: FPDF, texts: Iterable[tuple[str, bool]]) -> None:
    """Add to `pdf`, as families named by face, the faces that every (text, bold) given needs."""
    keys = dict.fromkeys(key for text, bold in texts for key, _ in runs(text, bold))
    for key in keys:
        pdf.fonts[key] = _for_document(pdf, key)


class _DocumentFont(TTFFont):
    """A document's view of a face whose parse every document shares (`_for_document`)."""

    __slots__ = ()

    def close(self) -> None:
        """Nothing to close: fpdf2 closes a font's file after writing it, but this one stays
        open for the next document."""


# TTFFont's attributes, all shared with the parse but those a document changes.
_SLOTS = tuple(slot for cls in TTFFont.__mro__ for slot in getattr(cls, "__slots__", ()))


@functools.cache
def _parsed(key: str) -> TTFFont:
    """fpdf2's parse of a whole face, as `FPDF.add_font` makes it, once a process, with what
    fpdf2 would otherwise load on a document's first use of it."""
    font = TTFFont(FPDF(), FONTS_DIR / _FILES[key], key, "")
    font.hbfont  # noqa: B018 - fpdf2 makes its HarfBuzz font on first use; made once here
    font.ttfont.getReverseGlyphMap()  # glyph ids by name, which the PDF writer looks up
    return font


def _for_document(pdf: FPDF, key: str) -> _DocumentFont:
    """The face for one document, as `add_font` would add it: the parse shared, with the
    document's own number, glyph map (which glyphs it drew, under which codes), descriptor
    (the writer names the subset in it) and list of characters it missed."""
    parsed = _parsed(key)
    font = _DocumentFont.__new__(_DocumentFont)
    for slot in _SLOTS:
        if hasattr(parsed, slot):  # fpdf2 leaves some unset
            setattr(font, slot, getattr(parsed, slot))
    font.i = len(pdf.fonts) + 1
    font.desc = copy.copy(parsed.desc)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    return font
