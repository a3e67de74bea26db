"""A protocol office's list of delegates, as kept in Excel: which column is which (headers in
English or Chinese, a title row or two above them allowed), and cell values as people write
them (country names, language names, category labels) turned into the codes the registration
form takes."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import pycountry
from babel import Locale

from services.registration import spreadsheets
from services.registration.models import Category
from shared.errors import Invalid

# What a protocol office heads its columns with; compared after `_header_key`.
HEADERS = {
    "given_name": ("given_name", "given name", "first name", "forename", "名", "名字"),
    "family_name": ("family_name", "family name", "last name", "surname", "姓", "姓氏"),
    "full_name": ("name", "full name", "姓名"),  # the whole name, where there is no 名 column
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "邮箱", "电子邮箱",
              "电子邮件", "邮件", "电邮", "邮箱地址", "電子郵件", "電郵", "郵箱"),
    "organisation": ("organisation", "organization", "institution", "affiliation", "company",
                     "单位", "工作单位", "所在单位", "机构", "组织", "單位", "機構"),
    "city": ("city", "城市", "所在城市"),
    "country": ("country", "country or region", "country/region", "country code", "国家",
                "国家/地区", "国家或地区", "国家和地区", "國家", "國家/地區"),
    "category": ("category", "delegate category", "participant category", "type", "类别",
                 "参会类别", "嘉宾类别", "类型", "身份", "類別"),
    "language": ("language", "lang", "语言", "邮件语言", "語言"),
    "dietary": ("dietary", "dietary needs", "dietary requirements", "diet", "饮食", "饮食要求",
                "饮食禁忌"),
    "accessibility": ("accessibility", "accessibility needs", "access needs", "无障碍",
                      "无障碍需求"),
}  # fmt: skip
REQUIRED = {"given_name": "Given name (名)", "email": "E-mail (邮箱)",
            "organisation": "Organisation (单位)", "city": "City (城市)",
            "country": "Country (国家)", "category": "Category (类别)"}  # fmt: skip
LANGUAGES = {"en": "en", "english": "en", "英文": "en", "英语": "en", "zh": "zh",
             "chinese": "zh", "中文": "zh", "汉语": "zh", "简体中文": "zh", "zh-cn": "zh",
             "zh-hans": "zh"}  # fmt: skip
# Names a list may use that neither ISO nor CLDR has.
COUNTRIES = {"uk": "GB", "香港": "HK", "中国香港": "HK", "澳门": "MO", "中国澳门": "MO",
             "中国台湾": "TW"}  # fmt: skip


@dataclass(frozen=True)
class Sheet:
    """A list's rows below its header row, cells as text, numbered as the spreadsheet shows."""

    columns: dict[str, tuple[int, str]]  # field → (position, header as written)
    ignored: list[str]  # headers that name nothing imported
    rows: list[tuple[int, list[str]]]

    def values(self, cells: list[str]) -> dict[str, str]:
        found = {name: cells[i] for name, (i, _) in self.columns.items() if i < len(cells)}
        return {name: value for name, value in found.items() if value}

    def header(self, name: str) -> str:
        return self.columns.get(name, (0, name))[1]


def read_sheet(content: bytes, max_rows: int | None = None) -> Sheet:
    """An uploaded list's rows below its header row, the header found among the first rows
    (a title may stand above it) and matched in English or Chinese."""
    rows = spreadsheets.read_rows(content, max_rows)
    for index, (_number, cells) in enumerate(rows[:10]):
        columns, ignored = _match(cells)
        if "email" in columns and len(columns) >= 2:
            data = rows[index + 1 :]
            if max_rows is not None and len(data) > max_rows:
                raise spreadsheets.too_many_rows(max_rows)
            return Sheet(columns, ignored, data)
    raise Invalid(
        "no_header_row",
        "No header row found: name the columns in the first row, such as Given name, Family "
        "name, E-mail, Organisation, City, Country, Category (or 名, 姓, 邮箱, 单位, 城市, "
        "国家, 类别).",
    )


def missing_columns(sheet: Sheet, default_category: str | None = None) -> None:
    """422 naming every column the list needs and lacks."""
    missing = [n for n in REQUIRED if n not in sheet.columns]
    if default_category:
        missing = [n for n in missing if n != "category"]
    if missing:
        names = ", ".join(REQUIRED[n] for n in missing)
        raise Invalid("missing_columns", f"The file has no column for: {names}.")


def as_codes(raw: dict[str, str], categories: list[Category]) -> dict[str, str]:
    """Country names, language names and category labels, as people write them, to codes."""
    if "country" in raw:
        raw["country"] = _country_code(raw["country"]) or raw["country"]
    if "language" in raw:
        raw["language"] = LANGUAGES.get(raw["language"].casefold(), raw["language"])
    if "category" in raw:
        wanted = raw["category"].casefold()
        for category in categories:
            if wanted in {category.code.casefold(), category.label.casefold()}:
                raw["category"] = category.code
    return raw


def _header_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\(.*?\)", "", text)  # "E-mail (required)", "国家（代码）"
    return re.sub(r"[\s_\-./*:：]+", "", text)


_HEADER_FIELDS = {
    _header_key(alias): name for name, aliases in HEADERS.items() for alias in aliases
}


def _match(cells: list[str]) -> tuple[dict[str, tuple[int, str]], list[str]]:
    columns: dict[str, tuple[int, str]] = {}
    ignored = []
    for position, header in enumerate(cells):
        name = _HEADER_FIELDS.get(_header_key(header))
        if name and name not in columns:
            columns[name] = (position, header)
        elif header:
            ignored.append(header)
    full = columns.pop("full_name", None)
    if full and "given_name" not in columns:
        columns["given_name"] = full
    elif full:
        ignored.append(full[1])
    return columns, ignored


def _country_code(text: str) -> str | None:
    key = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return _country_names().get(key) or (key.upper() if key.isascii() and len(key) == 2 else None)


@cache
def _country_names() -> dict[str, str]:
    """Country names in English and Chinese (CLDR's and ISO's) and alpha-3 codes → alpha-2."""
    names = dict(COUNTRIES)
    for locale in ("en", "zh_Hans", "zh_Hant"):
        territories = Locale.parse(locale).territories
        for country in pycountry.countries:
            for name in (
                territories.get(country.alpha_2),
                country.name,
                getattr(country, "common_name", None),
                getattr(country, "official_name", None),
                country.alpha_3,
            ):
                if name:
                    names.setdefault(" ".join(name.casefold().split()), country.alpha_2)
    return names
