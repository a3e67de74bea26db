"""Writing a badge PDF: fpdf2's writer, less the pass in which it subsets every font again.

fpdf2 parses each font with fontTools when it is added, to shape and measure, and when it writes
the PDF it subsets each one with fontTools and writes it anew. The badge's fonts are already
HarfBuzz subsets of the glyphs a document needs (`badge_fonts.embed`), yet that second pass was
about half of a badge PDF's CPU time (17-22 ms of 35-40 ms, measured with
bench/micro/badge_render.py). `PresubsetOutput` writes the font objects fpdf2 writes for a
TrueType font, and cuts each program down to the glyphs drawn with HarfBuzz in a tenth of a
millisecond. It overrides fpdf2's (private) `OutputProducer._add_fonts` as of 2.8: the tests
in tests/unit/test_badge_print.py read every font, its text and its rendering back.
"""

from __future__ import annotations

from pathlib import Path

import uharfbuzz as hb
from fpdf.fonts import Glyph, TTFFont
from fpdf.output import CIDSystemInfo, OutputProducer, PDFContentStream, PDFFont, PDFFontStream
from fpdf.syntax import Name, PDFArray


class PresubsetOutput(OutputProducer):
    """fpdf2's PDF writer for documents whose fonts all come from `embed`. It writes the
    objects fpdf2 writes for a TrueType font (a Type0 font, its CIDFontType2 with widths,
    ToUnicode and CIDToGIDMap, the descriptor), but cuts each font program down to the glyphs
    drawn with HarfBuzz instead of fontTools
    (`pdf.output(output_producer_class=PresubsetOutput)`)."""

    def _add_fonts(self, *_resources: object) -> dict[int, PDFFont]:
        fonts = sorted(self.fpdf.fonts.values(), key=lambda font: font.i)
        return {font.i: self._add_subset(font) for font in fonts}

    def _add_subset(self, font: TTFFont) -> PDFFont:
        name = f"MPDFAA+{font.name}"  # the tag fpdf2 gives a subset
        used = sorted((code, glyph) for glyph, code in font.subset.items() if glyph is not None)
        # fpdf2 numbers the glyphs drawn (codes) in the order it meets them; their ids in the
        # font are found by name, as fpdf2 finds them.
        gids = {code: font.ttfont.getGlyphID(glyph.glyph_name) for code, glyph in used}
        cid_to_gid = bytearray(2 * 65536)
        for code, gid in gids.items():
            cid_to_gid[2 * code : 2 * code + 2] = gid.to_bytes(2)

        composite = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
        cid_font = PDFFont("CIDFontType2", name, d_w=font.desc.missing_width, w=_widths(used))
        composite.descendant_fonts = PDFArray([cid_font])
        composite.to_unicode = PDFContentStream(_to_unicode(used))
        cid_font.c_i_d_system_info = CIDSystemInfo()
        cid_font.c_i_d_to_g_i_d_map = PDFContentStream(bytes(cid_to_gid), compress=True)
        cid_font.font_descriptor = font.desc
        font.desc.font_name = Name(name)
        font.desc.font_file2 = PDFFontStream(_program(Path(font.ttffile), set(gids.values())))
        for obj in (composite, cid_font, composite.to_unicode, cid_font.c_i_d_system_info,
                    cid_font.c_i_d_to_g_i_d_map, font.desc, font.desc.font_file2):  # fmt: skip
            self._add_pdf_obj(obj, "fonts")
        # As fpdf2 does: its per-class glyph caches would otherwise keep every document's fonts.
        font.subset.pick.cache_clear()
        font.subset.get_glyph.cache_clear()
        font.close()
        return composite


def _program(path: Path, gids: set[int]) -> bytes:
    """The font file with only the glyphs drawn (and .notdef, and the parts of composite
    glyphs), at the ids they have, and without the layout tables only shaping needed."""
    plan = hb.SubsetInput()
    plan.glyph_set.update(gids | {0})
    plan.flags = hb.SubsetFlags.RETAIN_GIDS
    for tag in (b"GDEF", b"GPOS", b"GSUB"):
        plan.drop_table_tag_set.add(int.from_bytes(tag))
    return hb.subset(hb.Face(path.read_bytes()), plan).blob.data


def _widths(used: list[tuple[int, Glyph]]) -> str:
    """The W array: each run of consecutive codes with the widths of its glyphs."""
    runs: list[tuple[int, list[int]]] = []
    for code, glyph in used:
        if runs and runs[-1][0] + len(runs[-1][1]) == code:
            runs[-1][1].append(glyph.glyph_width)
        else:
            runs.append((code, [glyph.glyph_width]))
    return "[" + " ".join(f"{start} [{' '.join(map(str, widths))}]" for start, widths in runs) + "]"


def _to_unicode(used: list[tuple[int, Glyph]]) -> bytes:
    """The CMap that lets a reader copy and search the text: each code's characters."""
    pairs = [
        f"<{code:04X}> <{''.join(map(chr, glyph.unicode)).encode('utf-16-be').hex().upper()}>\n"
        for code, glyph in used
        if isinstance(glyph.unicode, tuple) and glyph.unicode
    ]
    blocks = "".join(  # at most 100 entries a block (Adobe Technical Note #5014)
        f"{len(pairs[i : i + 100])} beginbfchar\n{''.join(pairs[i : i + 100])}endbfchar\n"
        for i in range(0, len(pairs), 100)
    )
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        f"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n{blocks}endcmap\n"
        "CMapName currentdict /CMap defineresource pop\nend\nend"
    ).encode("latin-1")
