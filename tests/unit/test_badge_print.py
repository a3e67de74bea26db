"""Printable badges, read back by tools that did not write them: pypdf for the text and the
font dictionaries, PDFium (pypdfium2) to render pages, zxing-cpp to scan the QR codes."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from fontTools.ttLib import TTFont
from PIL import Image
from pypdf import PdfReader

from shared.badges import BadgeClaim
from shared.printing.badge_print import (
    LAYOUTS,
    PrintedBadge,
    badge_pdf,
    badge_png,
    missing_glyphs,
    print_sheet,
    transliterate,
)
from tests.support.factories import SIGNER, unique_id

pytestmark = pytest.mark.unit

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "badges"
MM = 72 / 25.4  # PDF points in a millimetre


def make_badge(**fields: object) -> PrintedBadge:
    """A badge with its own id and a real signed token; descriptive defaults."""
    badge_id = unique_id()
    values: dict[str, object] = {
        "display_name": "Ana Souza",
        "latin_name": None,
        "organisation": "Prefeitura do Rio de Janeiro",
        "city": "Rio de Janeiro",
        "country_code": "BR",
        "category_label": "Delegate",
        "category_colour": "#1f6feb",
        "event_name": "Global Mayors' Forum 2023",
        "event_dates": "7–9 December 2023",
        "token": SIGNER.sign(BadgeClaim(event_id=1, badge_id=badge_id, version=1)),
        "badge_id": badge_id,
    }
    values.update(fields)
    return PrintedBadge(**values)  # type: ignore[arg-type]


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def squashed(text: str) -> str:
    return "".join(text.split())


def render(pdf: bytes, page: int = 0, dpi: int = 200) -> Image.Image:
    document = pdfium.PdfDocument(pdf)
    try:
        return document[page].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        document.close()


def scanned(image: Image.Image) -> list[str]:
    return sorted(r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.QRCode)


def fonts_of(pdf: bytes) -> list[dict]:
    """Every font dictionary the pages use, with its descendant CID font and descriptor."""
    found = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = (
                font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else {}
            )
            descriptor = descendant.get("/FontDescriptor") or font.get("/FontDescriptor")
            found[font["/BaseFont"]] = {
                "font": font,
                "descendant": descendant,
                "descriptor": descriptor.get_object() if descriptor else {},
            }
    return list(found.values())


def outlined_glyphs(program: TTFont) -> list[str]:
    glyf = program["glyf"]
    return [name for name in program.getGlyphOrder() if glyf[name].numberOfContours]


SCRIPTS = [
    ("王小明", "Wang Xiaoming", "广州市人民政府", "广州", "CN", "China"),
    ("Γιώργος Παπαδόπουλος", "Giorgos Papadopoulos", "Δήμος Θεσσαλονίκης", "Θεσσαλονίκη", "GR",
     "Greece"),
    ("Наталья Ким", "Natalya Kim", "Мэрия Москвы", "Москва", "RU", "Russia"),
    ("José Ángel Núñez Ibáñez", None, "Ayuntamiento de Málaga", "Málaga", "ES", "Spain"),
    ("مريم الحسيني", None, "UN-Habitat", "Nairobi", "KE", "Kenya"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "latin", "organisation", "city", "code", "country"), SCRIPTS)
@pytest.mark.parametrize("size", ["a6", "lanyard"])
def test_a_name_in_any_script_prints_as_written_with_its_transliteration(
    name, latin, organisation, city, code, country, size, caplog
):
    assert transliterate(name) == latin
    badge = make_badge(
        display_name=name, latin_name=latin, organisation=organisation, city=city, country_code=code
    )
    with caplog.at_level(logging.WARNING, logger="fpdf"):
        (text,) = page_texts(badge_pdf(badge, size))

    lines = text.splitlines()
    assert name in " ".join(lines)  # a long name may wrap at a space, and only there
    if latin:
        assert latin in lines
    assert organisation in lines
    assert f"{city} · {country}" in lines
    assert {"Global Mayors' Forum 2023", "7–9 December 2023", "DELEGATE"} <= set(lines)
    assert f"ID {badge.badge_id}" in lines
    assert not missing_glyphs(name + organisation + city)
    assert not [r for r in caplog.records if "missing" in r.getMessage()]


@pytest.mark.parametrize(
    ("name", "city", "code", "place"),
    [
        ("דוד כהן", "תל אביב", "IL", "תל אביב · Israel"),
        ("ქეთევან ჯავახიშვილი", "თბილისი", "GE", "თბილისი · Georgia"),
        ("Արամ Խաչատրյան", "Երևան", "AM", "Երևան · Armenia"),
        ("สมชาย ใจดี", "กรุงเทพฯ", "TH", "กรุงเทพฯ · Thailand"),
        ("오세훈", "서울", "KR", "서울 · South Korea"),
        # Printed right, but fpdf2 gives the half-form glyph of the conjunct ल्ल no text of
        # its own, so copying the city gives दि\x04ल्ली: the line is not compared.
        ("नरेन्द्र मोदी", "नई दिल्ली", "IN", None),
    ],
)
def test_names_in_more_scripts_print_with_real_glyphs(name, city, code, place, caplog):
    with caplog.at_level(logging.WARNING, logger="fpdf"):
        pdf = badge_pdf(make_badge(display_name=name, city=city, country_code=code), "lanyard")
    assert not missing_glyphs(name + city)
    assert not [r for r in caplog.records if "missing" in r.getMessage()]
    document = pdfium.PdfDocument(pdf)
    try:  # PDFium reads lines back in logical order, as a person copying them gets them
        lines = document[0].get_textpage().get_text_bounded().splitlines()
    finally:
        document.close()
    # A name may wrap at its space; a Thai vowel above its consonant reads as a line of its own.
    assert squashed(name) in squashed(" ".join(lines))
    assert place is None or place in lines


def test_a_right_to_left_line_is_laid_out_from_the_right():
    pdf = badge_pdf(make_badge(display_name="דוד כהן", city="תל אביב", country_code="IL"))
    document = pdfium.PdfDocument(pdf)
    try:
        textpage = document[0].get_textpage()
        text = textpage.get_text_range()
        israel, tel_aviv = text.index("Israel"), text.index("תל")
        assert textpage.get_charbox(israel)[0] < textpage.get_charbox(tel_aviv)[0]
    finally:
        document.close()


def test_every_font_is_embedded_as_a_font_program_with_real_outlines():
    badge = make_badge(
        display_name="王小明",
        latin_name="Wang Xiaoming",
        organisation="Δήμος Θεσσαλονίκης · Мэрия Москвы · مريم",
        city="Málaga",
    )
    fonts = fonts_of(badge_pdf(badge))

    names = {str(f["font"]["/BaseFont"]).split("+")[-1] for f in fonts}
    # The faces this badge uses: bold CJK for the name, regular Latin and Arabic for the rest,
    # bold Latin for the event and the category.
    assert names == {"NotoSansCJKSCBold", "NotoSans", "NotoSansArabic", "NotoSansBold"}
    for entry in fonts:
        font, descriptor = entry["font"], entry["descriptor"]
        assert font["/Subtype"] == "/Type0", font["/BaseFont"]  # no unembedded standard font
        assert entry["descendant"]["/Subtype"] in ("/CIDFontType2", "/CIDFontType0")
        files = [key for key in ("/FontFile2", "/FontFile3") if key in descriptor]
        assert files, f"{font['/BaseFont']} is not embedded"
        program = TTFont(io.BytesIO(descriptor[files[0]].get_object().get_data()))
        outlined = outlined_glyphs(program)
        # A subset: the glyphs this badge shows, drawn (no empty boxes), not a whole font.
        assert 1 < len(outlined) < 100, font["/BaseFont"]
    cjk = next(
        f for f in fonts if "CJK" in f["font"]["/BaseFont"] and "Bold" in f["font"]["/BaseFont"]
    )
    program = TTFont(io.BytesIO(cjk["descriptor"]["/FontFile2"].get_object().get_data()))
    assert len(outlined_glyphs(program)) >= 3  # 王 小 明


@pytest.mark.parametrize("size", ["a6", "lanyard"])
def test_the_qr_on_the_printed_page_scans_to_the_exact_token(size):
    badge = make_badge()
    assert scanned(render(badge_pdf(badge, size), dpi=150)) == [badge.token]


@pytest.mark.parametrize(
    ("size", "width_mm", "height_mm"), [("a6", 105, 148), ("lanyard", 101.6, 76.2)]
)
def test_a_badge_is_a_page_of_its_size(size, width_mm, height_mm):
    (page,) = PdfReader(io.BytesIO(badge_pdf(make_badge(), size))).pages
    assert float(page.mediabox.width) == pytest.approx(width_mm * MM, abs=0.1)
    assert float(page.mediabox.height) == pytest.approx(height_mm * MM, abs=0.1)


def test_the_qr_is_large_enough_to_scan_from_arms_length():
    for layout in LAYOUTS.values():
        assert layout.qr >= 30


@pytest.mark.parametrize(("size", "per_page"), [("a6", 4), ("lanyard", 6)])
def test_a_print_sheet_of_nine_badges_fills_a4_pages_and_every_qr_scans(size, per_page):
    badges = [make_badge(display_name=f"Delegate {i}") for i in range(9)]
    pdf = print_sheet(badges, size)

    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == -(-9 // per_page)
    for page in pages:
        assert float(page.mediabox.width) == pytest.approx(210 * MM, abs=0.1)
        assert float(page.mediabox.height) == pytest.approx(297 * MM, abs=0.1)
    tokens = [token for i in range(len(pages)) for token in scanned(render(pdf, i, dpi=150))]
    assert sorted(tokens) == sorted(b.token for b in badges)
    assert all(f"Delegate {i}" in "\n".join(page_texts(pdf)) for i in range(9))


def test_badges_printed_one_after_another_each_show_their_own_name_glyphs_and_qr():
    first = make_badge(display_name="王小明", latin_name="Wang Xiaoming")
    second = make_badge(display_name="张喆", latin_name="Zhang Zhe")
    pdfs = [badge_pdf(first), badge_pdf(second), badge_pdf(first, "lanyard")]

    for badge, other, pdf in zip(
        [first, second, first], [second, first, second], pdfs, strict=True
    ):
        (text,) = page_texts(pdf)
        assert badge.display_name in text and badge.latin_name in text
        assert other.display_name not in text and other.latin_name not in text
        assert scanned(render(pdf, dpi=150)) == [badge.token]
        (name_font,) = [f for f in fonts_of(pdf) if "CJKSCBold" in f["font"]["/BaseFont"]]
        program = name_font["descriptor"]["/FontFile2"].get_object().get_data()
        # The name's font holds the glyphs of this name, none left from the badge before.
        assert len(outlined_glyphs(TTFont(io.BytesIO(program)))) == len(badge.display_name)


def test_a_print_sheet_needs_badges():
    with pytest.raises(ValueError):
        print_sheet([])


def test_markup_in_a_name_is_printed_literally():
    name = '<script>alert("x")</script> <b>Bo</b> &amp; **md**'
    organisation = "<img src=x onerror=alert(1)> {{ org }}"
    (text,) = page_texts(badge_pdf(make_badge(display_name=name, organisation=organisation)))
    assert squashed(name) in squashed(text)
    assert squashed(organisation) in squashed(text)
    assert transliterate(name) is None


LONG_NAME = (
    "Maximiliano Alejandro Bartolomé de la Santísima Trinidad Fernández-Villaverde y "
    "Rodríguez de Castro"
)
LONG_ORGANISATION = (
    "Secretaría Municipal de Relaciones Internacionales, Cooperación Descentralizada, "
    "Hermanamientos de Ciudades y Protocolo del Excelentísimo Ayuntamiento de la Ciudad de "
    "Santiago de Compostela"
)


@pytest.mark.parametrize("size", ["a6", "lanyard"])
@pytest.mark.parametrize(
    ("name", "organisation"),
    [
        (LONG_NAME, LONG_ORGANISATION),
        ("Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch", "Cyngor Sir Ynys Môn"),
        (
            "爱新觉罗·溥仪",
            "中华人民共和国广东省广州市人民政府外事办公室国际交流合作处礼宾接待科" * 2,
        ),
    ],
)
def test_long_names_and_organisations_shrink_or_wrap_and_stay_whole(name, organisation, size):
    badge = make_badge(display_name=name, organisation=organisation, city="Santiago")
    pdf = badge_pdf(badge, size)

    (text,) = page_texts(pdf)
    assert squashed(name) in squashed(text)
    assert squashed(organisation) in squashed(text)
    assert scanned(render(pdf, dpi=150)) == [badge.token]  # no text ran over the QR
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        width, height = page.get_size()
        textpage = page.get_textpage()
        boxes = [textpage.get_charbox(i) for i in range(textpage.count_chars())]
        # Every character lies on the page, inside the margins the badge keeps.
        for left, bottom, right, top in boxes:
            if right > left:
                assert left > 2 * MM and right < width - 2 * MM
                assert bottom >= 0 and top <= height
    finally:
        document.close()


def test_the_category_band_takes_the_category_colour_and_readable_text():
    image = render(badge_pdf(make_badge(category_colour="#c0392b", category_label="Mayor")), dpi=72)
    assert image.getpixel((4, image.height - 4)) == (0xC0, 0x39, 0x2B)
    image = render(badge_pdf(make_badge(category_colour="#fde047")), dpi=72)  # pale yellow
    assert image.getpixel((4, image.height - 4)) == (0xFD, 0xE0, 0x47)


def test_badge_png_is_the_qr_of_the_token():
    badge = make_badge()
    assert scanned(Image.open(io.BytesIO(badge_png(badge.token)))) == [badge.token]


def test_characters_no_font_has_are_named_before_printing():
    assert missing_glyphs("Ana 😀 Souza") == {"😀"}
    assert missing_glyphs("王小明 오세훈 Γιώργος José مريم\u200d") == set()
    pdf = badge_pdf(make_badge(display_name="Ana 😀 Souza"))  # prints, with a box for 😀
    assert "Ana" in page_texts(pdf)[0]


def test_a_malformed_colour_or_size_is_refused():
    with pytest.raises(ValueError):
        make_badge(category_colour="red")
    with pytest.raises(ValueError):
        badge_pdf(make_badge(), size="a4")


def test_control_characters_in_a_field_print_as_spaces():
    (text,) = page_texts(badge_pdf(make_badge(display_name="Ana\nSouza\t")))
    assert "Ana Souza" in text


@pytest.mark.parametrize(
    ("name", "latin"),
    [
        ("王小明", "Wang Xiaoming"),
        ("欧阳修", "Ouyang Xiu"),  # a two-character family name
        ("曾国藩", "Zeng Guofan"),  # read as a surname, not as céng
        ("吕佳安", "Lü Jia'an"),
        ("张喆", "Zhang Zhe"),  # outside GB 2312, common in names
        ("Γιώργος Παπαδόπουλος", "Giorgos Papadopoulos"),
        ("Ευάγγελος Αυγουστής", "Evangelos Avgoustis"),
        ("Ευστάθιος", "Efstathios"),
        ("Наталья Ким", "Natalya Kim"),
        ("Юрий Щербаков", "Yuriy Shcherbakov"),
        ("오세훈", "O Sehun"),
        ("Արամ Խաչատրյան", "Aram Khachatryan"),
        ("José Ángel Núñez Ibáñez", None),  # Latin already: diacritics stay as written
        ("Mary O'Brien", None),
        ("Kalaniʻōpuʻu", None),
        ("مريم الحسيني", None),  # no vowels written: the delegate types the Latin form
        ("דוד כהן", None),
    ],
)
def test_transliteration(name, latin):
    assert transliterate(name) == latin


def test_chinese_and_greek_a6_badges_render_for_a_person_to_look_at():
    """Leaves test-artifacts/badges/a6-chinese.png and a6-greek.png for review."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, name, organisation, city, code in [
        ("chinese", "王小明", "广州市人民政府", "广州", "CN"),
        ("greek", "Γιώργος Παπαδόπουλος", "Δήμος Θεσσαλονίκης", "Θεσσαλονίκη", "GR"),
    ]:
        badge = make_badge(
            display_name=name,
            latin_name=transliterate(name),
            organisation=organisation,
            city=city,
            country_code=code,
            category_label="Mayor" if code == "CN" else "Delegate",
            category_colour="#c0392b" if code == "CN" else "#1f6feb",
            event_dates="7–9 December 2023 · Guangzhou",
        )
        image = render(badge_pdf(badge), dpi=300)
        image.save(ARTIFACTS / f"a6-{label}.png")
        assert scanned(image) == [badge.token]
