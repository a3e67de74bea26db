"""Rebuild the vendored badge fonts from Debian's Noto packages (a maintainer's tool, not run
at build or run time):

    apt-get install fonts-noto-core fonts-noto-cjk
    .venv/bin/python shared/printing/fonts/subset_fonts.py

Full Noto Sans CJK is about 20 MB a weight, too big to commit; these subsets keep what a
badge needs (see README.md beside this file). Its CFF outlines become TrueType ones: fpdf2
embeds CFF as a CIDFontType0 with an encoding CMap that pypdf and pdfminer cannot read back,
while TrueType gets Identity-H that every reader knows (and zlib packs both to the same size).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable

HERE = Path(__file__).parent
NOTO = Path("/usr/share/fonts/truetype/noto")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto")
SC_INDEX = 2  # in Debian's NotoSansCJK-*.ttc: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK

LATIN_GREEK_CYRILLIC = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x036F),  # Latin-1, Extended-A/B, IPA, modifier letters, combining marks
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x052F),  # Cyrillic and its supplement
    (0x1E00, 0x1FFF),  # Latin Extended Additional (Vietnamese), Greek Extended
    (0x2000, 0x206F),  # punctuation: dashes, quotes, bullets
    (0x20A0, 0x20CF),  # currency
    (0x2100, 0x214F),  # letterlike (No.)
]
ARABIC = [(0x0020, 0x0040), (0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)]
CJK_COMMON = [(0x3000, 0x30FF), (0xFF00, 0xFFEF)]  # CJK punctuation, kana, full-width forms


def _decodable(codec: str, rows: range, cells: range) -> set[int]:
    found = set()
    for row in rows:
        for cell in cells:
            try:
                found.update(ord(c) for c in bytes([row, cell]).decode(codec))
            except UnicodeDecodeError:
                continue
    return found


def _expand(ranges: list[tuple[int, int]]) -> set[int]:
    return {cp for low, high in ranges for cp in range(low, high + 1)}


def cjk_regular() -> set[int]:
    """GB 2312 (6,763 hanzi): organisations, cities and event names in simplified Chinese."""
    return _decodable("gb2312", range(0xA1, 0xF8), range(0xA1, 0xFF)) | _expand(CJK_COMMON)


def cjk_bold() -> set[int]:
    """Every CJK Unified Ideograph of the main block (personal names use rare characters
    outside GB 2312, such as 喆, 堃, 旸), kana, and the 2,350 Hangul syllables of KS X 1001."""
    hangul = {
        cp
        for cp in _decodable("euc_kr", range(0xB0, 0xC9), range(0xA1, 0xFF))
        if unicodedata.name(chr(cp), "").startswith("HANGUL SYLLABLE")
    }
    return _expand([(0x4E00, 0x9FFF)] + CJK_COMMON) | hangul | cjk_regular()


def make(source: Path, target: str, unicodes: set[int], *, number: int = 0, layout: bool) -> None:
    options = subset.Options()
    options.font_number = number
    options.hinting = False  # print resolution needs no hints; saves a fifth of the size
    options.notdef_outline = True
    options.name_IDs = ["*"]  # keep copyright and licence strings
    # HarfBuzz needs GSUB/GPOS for Arabic joining and Latin marks; CJK needs none of them,
    # nor vertical metrics. Every table left out is one fpdf2 need not rewrite per PDF.
    options.layout_features = ["*"] if layout else []
    options.drop_tables += ["gasp"]
    if not layout:
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx"]
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    if "CFF " in font:
        _to_truetype(font)
    subset.save_font(font, str(HERE / target), options)
    print(f"{target}: {len(font.getBestCmap())} characters, {(HERE / target).stat().st_size} B")


def _to_truetype(font: TTFont) -> None:
    """Cubic CFF outlines to quadratic TrueType ones, within 1 unit of 1,000 to the em."""
    order, glyphs = font.getGlyphOrder(), font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder, glyf.glyphs = order, {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["loca"], font["glyf"] = newTable("loca"), glyf
    del font["CFF "]
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion, maxp.maxZones = 0x00010000, 1
    for field in ("TwilightPoints", "Storage", "FunctionDefs", "InstructionDefs",
                  "StackElements", "SizeOfInstructions"):  # fmt: skip
        setattr(maxp, "max" + field, 0)
    post = font["post"]
    post.formatType, post.extraNames, post.mapping, post.glyphOrder = 2.0, [], {}, order
    for name in order:  # a TrueType left side bearing is the glyph's xMin
        glyph = glyf.glyphs[name]
        glyph.recalcBounds(glyf)
        font["hmtx"][name] = (font["hmtx"][name][0], getattr(glyph, "xMin", 0))
    maxp.recalc(font)  # points, contours, components
    font.sfntVersion = "\0\1\0\0"


def write_licence() -> None:
    text = Path("/usr/share/doc/fonts-noto-cjk/copyright").read_text()
    body = text.split("License: SIL-1.1\n", 2)[2].split("\nLicense:", 1)[0]
    lines = [re.sub(r"^ \.?", "", line) for line in body.splitlines()]
    header = (
        "Noto Sans and its Arabic, Hebrew, Georgian, Armenian, Thai and Devanagari companions: "
        "Copyright 2015-2020 Google LLC. All Rights Reserved.\n"
        "Noto Sans CJK: Copyright 2014-2021 Adobe (http://www.adobe.com/), "
        "with Reserved Font Name 'Source'.\n\n"
    )
    (HERE / "OFL.txt").write_text(header + "\n".join(lines).strip() + "\n")


# Scripts of names beyond the brief's (Hebrew, Georgian, Armenian, Thai, Devanagari): small
# fonts, kept whole.
WHOLE = ("Hebrew", "Georgian", "Armenian", "Thai", "Devanagari")


def main() -> None:
    latin = _expand(LATIN_GREEK_CYRILLIC)
    for weight in ("Regular", "Bold"):
        make(NOTO / f"NotoSans-{weight}.ttf", f"NotoSans-{weight}.ttf", latin, layout=True)
        arabic = f"NotoSansArabic-{weight}.ttf"
        make(NOTO / arabic, arabic, _expand(ARABIC), layout=True)
        for script in WHOLE:
            name = f"NotoSans{script}-{weight}.ttf"
            make(NOTO / name, name, set(TTFont(NOTO / name).getBestCmap()), layout=True)
    cjk = NOTO_CJK / "NotoSansCJK-{}.ttc"
    make(Path(str(cjk).format("Regular")), "NotoSansSC-Regular.ttf", cjk_regular(),
         number=SC_INDEX, layout=False)  # fmt: skip
    make(Path(str(cjk).format("Bold")), "NotoSansSC-Bold.ttf", cjk_bold(),
         number=SC_INDEX, layout=False)  # fmt: skip
    write_licence()


if __name__ == "__main__":
    main()
