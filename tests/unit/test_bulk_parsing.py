"""Reading a protocol office's list as Excel writes it (CSV in UTF-8 or UTF-16, comma, semicolon
or tab; XLSX), its headers in English or Chinese, each row checked as the registration form
would; and writing spreadsheets no one can smuggle a formula into."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from services.registration import spreadsheets
from services.registration.bulk import check_rows
from services.registration.delegate_lists import read_sheet
from services.registration.models import Category
from shared.errors import Invalid, Unsupported

pytestmark = pytest.mark.unit

ENGLISH = ["Given name", "Family name", "E-mail", "Organisation", "City", "Country", "Category"]
CHINESE = ["名", "姓", "邮箱", "单位", "城市", "国家", "类别"]
WANG = ["小明", "王", "wang@example.cn", "广州市人民政府", "广州", "CN", "mayor"]
CATEGORIES = [
    Category(code="mayor", label="Mayor or governor"),
    Category(code="media", label="Media"),
]


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list], start_row: int = 1) -> bytes:
    book = Workbook()
    sheet = book.active
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, 1):
            sheet.cell(row=start_row + offset, column=column, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def fields_of(sheet) -> dict[str, str]:
    return {name: header for name, (_position, header) in sheet.columns.items()}


# --- headers ---------------------------------------------------------------------------------


def test_english_headers_are_matched_whatever_their_case_and_spelling():
    headers = ["GIVEN NAME", "Surname", "E-mail address", "Organization", "city", "Country/Region",
               "Participant category", "Language", "Dietary requirements"]  # fmt: skip
    sheet = read_sheet(csv_bytes([headers, WANG + ["zh", ""]]))

    assert fields_of(sheet) == {
        "given_name": "GIVEN NAME",
        "family_name": "Surname",
        "email": "E-mail address",
        "organisation": "Organization",
        "city": "city",
        "country": "Country/Region",
        "category": "Participant category",
        "language": "Language",
        "dietary": "Dietary requirements",
    }


def test_chinese_headers_are_matched_with_notes_and_full_width_letters():
    headers = ["名", "姓", "电子邮箱（必填）", "工作单位", "城市", "国家/地区", "参会类别", "语言",
               "Ｅ－ｍａｉｌ"]  # fmt: skip
    sheet = read_sheet(csv_bytes([headers, WANG + ["中文", ""]]))

    assert fields_of(sheet)["email"] == "电子邮箱（必填）"
    assert set(fields_of(sheet)) == {"given_name", "family_name", "email", "organisation",
                                     "city", "country", "category", "language"}  # fmt: skip
    assert sheet.ignored == ["Ｅ－ｍａｉｌ"]  # a second e-mail column is not imported


def test_a_single_name_column_holds_the_whole_name_and_unknown_columns_are_listed():
    sheet = read_sheet(csv_bytes([["姓名", "邮箱", "备注"], ["王小明", "wang@example.cn", "VIP"]]))

    assert fields_of(sheet) == {"given_name": "姓名", "email": "邮箱"}
    assert sheet.ignored == ["备注"]
    assert sheet.values(sheet.rows[0][1]) == {"given_name": "王小明", "email": "wang@example.cn"}


def test_a_title_above_the_header_keeps_row_numbers_as_the_spreadsheet_shows_them():
    rows = [["2023全球市长论坛 嘉宾名单"], [], CHINESE, WANG, [], ["Clara", "Brugada"]]
    sheet = read_sheet(csv_bytes(rows))

    assert [number for number, _cells in sheet.rows] == [4, 6]


def test_a_file_without_a_recognisable_header_row_is_refused():
    with pytest.raises(Invalid) as refused:
        read_sheet(csv_bytes([["a", "b"], ["1", "2"]]))
    assert refused.value.code == "no_header_row"


# --- CSV as Excel writes it ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "label"),
    [
        (csv_bytes([ENGLISH, WANG]), "UTF-8"),
        (codecs.BOM_UTF8 + csv_bytes([ENGLISH, WANG]), "UTF-8 with BOM (Excel's CSV UTF-8)"),
        (csv_bytes([ENGLISH, WANG], delimiter=";"), "semicolon (Excel in much of Europe)"),
        (csv_bytes([ENGLISH, WANG], delimiter="\t", encoding="utf-16"), "Excel's Unicode text"),
    ],
)
def test_csv_in_each_encoding_and_separator_excel_writes_reads_the_same(content, label):
    sheet = read_sheet(content)

    assert sheet.rows == [(2, WANG)], label
    assert fields_of(sheet)["given_name"] == "Given name"


def test_csv_in_a_legacy_encoding_is_refused_with_how_to_save_it():
    with pytest.raises(Unsupported) as refused:
        read_sheet(csv_bytes([CHINESE, WANG], encoding="gb18030"))
    assert refused.value.status == 415
    assert "CSV UTF-8" in refused.value.message


def test_a_line_break_inside_a_cell_is_one_row_and_becomes_a_space():
    content = csv_bytes(
        [
            ENGLISH,
            ["小明", "王", "w@example.cn", "广州市人民政府\n外事办公室", "广州", "CN", "mayor"],
            WANG,
        ]
    )
    sheet = read_sheet(content)

    assert [number for number, _ in sheet.rows] == [2, 3]
    assert sheet.rows[0][1][3] == "广州市人民政府 外事办公室"


# --- XLSX ------------------------------------------------------------------------------------


def test_xlsx_made_with_openpyxl_reads_with_row_numbers_and_numbers_as_text():
    rows = [
        ENGLISH,
        WANG,
        [],
        ["Clara", "Brugada Molina", "clara@example.mx", 2023, "Iztapalapa", "MX", "mayor"],
    ]
    sheet = read_sheet(xlsx_bytes(rows, start_row=3))

    assert [number for number, _ in sheet.rows] == [4, 6]
    assert sheet.rows[0][1] == WANG
    assert sheet.rows[1][1][3] == "2023"  # not "2023.0"


@pytest.mark.parametrize(
    "content",
    [
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),  # Excel 97-2003 .xls
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n",
        csv_bytes([ENGLISH, WANG], encoding="utf-16-be"),  # UTF-16 without its byte-order mark
    ],
    ids=["xls", "png", "pdf", "utf-16-without-bom"],
)
def test_a_file_that_is_neither_csv_nor_xlsx_is_unsupported(content):
    with pytest.raises(Unsupported):
        read_sheet(content)


def test_a_zip_that_is_not_a_workbook_is_unsupported():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hello")
    with pytest.raises(Unsupported):
        read_sheet(out.getvalue())


def test_an_empty_file_and_one_over_the_row_limit_are_refused():
    with pytest.raises(Invalid) as empty:
        read_sheet(b"")
    with pytest.raises(Invalid) as too_many:
        read_sheet(csv_bytes([ENGLISH] + [WANG] * 11), max_rows=10)

    assert (empty.value.code, too_many.value.code) == ("empty_file", "too_many_rows")


# --- checking rows ---------------------------------------------------------------------------


def test_rows_are_checked_as_the_form_checks_them_with_names_for_codes():
    rows = [
        ["小明", "王", "wang@example.cn", "广州市人民政府", "广州", "中国", "Mayor or governor"],
        ["Clara", "", "clara@example.mx", "Alcaldía", "Iztapalapa", "Mexico", "MAYOR"],
        ["Σίμος", "Ρούσσος", "simos@example.gr", "Δήμος", "Αθήνα", "GRC", "media"],
    ]
    results = check_rows(read_sheet(csv_bytes([ENGLISH, *rows])), CATEGORIES)

    assert [r.status for r in results] == ["valid", "valid", "valid"]
    assert [(r.data["country"], r.data["category"]) for r in results] == [
        ("CN", "mayor"), ("MX", "mayor"), ("GR", "media"),
    ]  # fmt: skip
    assert results[1].data["family_name"] == ""


def test_every_bad_cell_is_reported_by_row_column_and_field():
    rows = [
        ["小明", "王", "not-an-address", "广州市人民政府", "广州", "CN", "mayor"],
        ["Ana", "Silva", "ana@example.pt", "Lisboa", "Lisboa", "Atlantis", "mayor"],
        ["Ana", "Silva", "ana2@example.pt", "Lisboa", "Lisboa", "PT", "astronaut"],
        ["", "Silva", "ana3@example.pt", "Lisboa", "Lisboa", "PT", "mayor"],
        ["Ana", "Silva", "ANA@example.pt", "Lisboa", "Lisboa", "PT", "mayor"],
    ]
    results = check_rows(read_sheet(csv_bytes([CHINESE, *rows])), CATEGORIES)

    errors = [(r.row, e["field"], e["column"]) for r in results for e in r.errors]
    assert errors == [
        (2, "email", "邮箱"),
        (3, "country", "国家"),
        (4, "category", "类别"),
        (5, "given_name", "名"),
        (6, "email", "邮箱"),
    ]
    assert "Atlantis" in results[1].errors[0]["message"]
    assert "mayor, media" in results[2].errors[0]["message"]
    assert results[3].errors[0]["message"] == "This cell is empty, but it is required."
    assert results[4].errors[0]["message"] == "The same e-mail as row 3."


def test_a_list_without_a_required_column_is_refused_before_any_row():
    sheet = read_sheet(csv_bytes([["Given name", "E-mail"], ["Ana", "ana@example.pt"]]))

    with pytest.raises(Invalid) as refused:
        check_rows(sheet, CATEGORIES)
    assert refused.value.code == "missing_columns"
    assert refused.value.message == (
        "The file has no column for: Organisation (单位), City (城市), Country (国家), "
        "Category (类别)."
    )


def test_checking_reports_progress_row_by_row():
    calls = []
    check_rows(
        read_sheet(csv_bytes([ENGLISH, WANG, WANG])),
        CATEGORIES,
        progress=lambda *a: calls.append(a),
    )

    assert calls == [("checking", 1, 2), ("checking", 2, 2)]


# --- writing: formula injection --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("王小明", "王小明"),
        ("Ana-Maria", "Ana-Maria"),
        (42, 42),
    ],
)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_neutralised(value, written):
    assert spreadsheets.neutralise(value) == written


def test_csv_is_written_with_a_bom_and_neutralised_cells_that_read_back_as_written():
    content = spreadsheets.write_csv(
        ["Given name", "E-mail"], [['=HYPERLINK("http://x")', "王@example.cn"]]
    )

    assert content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[1] == ['\'=HYPERLINK("http://x")', "王@example.cn"]
    assert spreadsheets.read_rows(content)[1] == (2, ['=HYPERLINK("http://x")', "王@example.cn"])


def test_xlsx_cells_are_text_never_formulas():
    content = spreadsheets.write_xlsx(["Name", "Badge"], [['=HYPERLINK("http://x")', 7]], "list")

    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet["A1"].font.b
    assert (sheet["A2"].value, sheet["A2"].data_type) == ('\'=HYPERLINK("http://x")', "s")
    assert (sheet["B2"].value, sheet["B2"].data_type) == (7, "n")
    assert spreadsheets.read_rows(content)[1] == (2, ['=HYPERLINK("http://x")', "7"])
