"""Writing a badge PDF: fpdf2's writer, with each font cut down to the glyphs drawn by HarfBuzz
instead of fontTools.

fpdf2 parses each font with fontTools when it is added, to shape and measure, and when it writes
the PDF it subsets each one with fontTools and writes it anew: for the badge's CJK faces, some
270 ms a document. `PresubsetOutput` writes the font objects fpdf2 writes for a TrueType font,
and cuts each program down to the glyphs drawn with HarfBuzz in a fraction of a millisecond. It
overrides fpdf2's (private) `OutputProducer._add_fonts` as of 2.8: the tests in
tests/unit/test_badge_print.py read every font, its text and its rendering back.
"""

from __future__ import annotations

import functools
from pathlib import Path

import uharfbuzz as hb
from fpdf.fonts import Glyph, TTFFont
from fpdf.output import CIDSystemInfo, OutputProducer, PDFContentStream, PDFFont, PDFFontStream
from fpdf.syntax import Name, PDFArray


class PresubsetOutput(OutputProducer):
    """fpdf2's PDF writer for documents whose fonts are all TrueType (`badge_fonts.embed`).
    It writes the objects fpdf2 writes for a TrueType font (a Type0 font, its CIDFontType2
    with widths, ToUnicode and CIDToGIDMap, the descriptor), but cuts each font program down
    to the glyphs drawn with HarfBuzz instead of fontTools
    (`pdf.output(output_producer_class=PresubsetOutput)`)."""

    def _add_fonts(self, *_resources: object) -> dict[int, PDFFont]:
        fonts = sorted(self.fpdf.fonts.values(), key=lambda font: font.i)
        return {font.i: self._add_subset(font) for font in fonts}

    def _add_subset(self, font: TTFFont) -> PDFFont:
        name = f"MPDFAA+{font.name}"  # the tag fpdf2 gives a subset
        # fpdf2 keeps code 32 for the space, and in a face without one (the bold CJK face) gives
        # it the face's first glyph, which no text draws: spaces are set in a face that has them
        # (`badge_fonts.runs`), so that glyph is left out.
        used = sorted((code, glyph) for glyph, code in font.subset.items()
                      if glyph is not None and (code != 0x20 or 0x20 in font.cmap))  # fmt: skip
        # fpdf2 numbers the glyphs drawn (codes) in the order it meets them; their ids in the
        # font are found by name, as fpdf2 finds them, and renumbered in the program.
        gids = {code: font.ttfont.getGlyphID(glyph.glyph_name) for code, glyph in used}
        program, new_gid = _program(Path(font.ttffile), set(gids.values()))
        # Two bytes a code, up to the highest code drawn (as PDFBox writes it): fpdf2 writes
        # all 65,536, 128 KB a font that took almost a millisecond to compress.
        cid_to_gid = bytearray(2 * (max(gids) + 1))
        for code, gid in gids.items():
            cid_to_gid[2 * code : 2 * code + 2] = new_gid[gid].to_bytes(2)

        composite = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
        cid_font = PDFFont("CIDFontType2", name, d_w=font.desc.missing_width, w=_widths(used))
        composite.descendant_fonts = PDFArray([cid_font])
        composite.to_unicode = PDFContentStream(_to_unicode(used))
        cid_font.c_i_d_system_info = CIDSystemInfo()
        cid_font.c_i_d_to_g_i_d_map = PDFContentStream(bytes(cid_to_gid), compress=True)
        cid_font.font_descriptor = font.desc
        font.desc.font_name = Name(name)
        font.desc.font_file2 = PDFFontStream(program)
        for obj in (composite, cid_font, composite.to_unicode, cid_font.c_i_d_system_info,
                    cid_font.c_i_d_to_g_i_d_map, font.desc, font.desc.font_file2):  # fmt: skip
            self._add_pdf_obj(obj, "fonts")
        # As fpdf2 does: its per-class glyph caches would otherwise keep every document's fonts.
        font.subset.pick.cache_clear()
        font.subset.get_glyph.cache_clear()
        font.close()
        return composite


def _program(path: Path, gids: set[int]) -> tuple[bytes, dict[int, int]]:
    """The font file with only the glyphs drawn (and .notdef, and the parts of composite
    glyphs), without the layout tables only shaping needed; and each glyph's new id."""
    wanted = hb.SubsetInput()
    wanted.glyph_set.update(gids | {0})
    for tag in (b"GDEF", b"GPOS", b"GSUB"):
        wanted.drop_table_tag_set.add(int.from_bytes(tag))
    plan = hb.SubsetPlan(_face(path), wanted)
    new_gid = plan.old_to_new_glyph_mapping
    return plan.execute().blob.data, {gid: new_gid[gid] for gid in gids}


@functools.cache
def _face(path: Path) -> hb.Face:
    """A font file as HarfBuzz's subsetter reads it, once a process, with the tables it reads
    decoded beforehand (`subset_preprocess`): from the bold CJK face, a subset takes 0.03 ms
    instead of 2.5 ms."""
    return hb.subset_preprocess(hb.Face(hb.Blob.from_file_path(path)))


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
