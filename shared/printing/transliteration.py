"""A Latin transliteration of a non-Latin name, printed under it on the badge.

Libraries: pypinyin (MIT) for Chinese, since it reads characters in context (a table per
character cannot tell 曾 the surname, Zeng, from 曾 "once", ceng); anyascii (ISC) for the
other scripts: actively kept, table-driven, covering every script, and not GPL as unidecode
is. A few rules sit on top where anyascii's letter-by-letter output is not what the person's
passport says (Greek ου, αυ, ευ per ELOT 743; Russian soft signs). Scripts written without
vowels (Arabic, Hebrew) or with implicit ones (Thai, Indic) cannot be transliterated letter by
letter, so those names get None and the delegate types their own.
"""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

_SUPPORTED = {"LATIN", "CJK", "HANGUL", "HIRAGANA", "KATAKANA", "GREEK", "CYRILLIC", "ARMENIAN",
              "GEORGIAN"}  # fmt: skip
_SEPARATORS = re.compile(r"[\s·・‧•]+")
# Chinese surnames of two characters, and single ones read differently as a surname.
_COMPOUND_SURNAMES = {
    "欧阳": "Ouyang", "司马": "Sima", "上官": "Shangguan", "诸葛": "Zhuge", "东方": "Dongfang",
    "皇甫": "Huangfu", "尉迟": "Yuchi", "公孙": "Gongsun", "慕容": "Murong", "令狐": "Linghu",
    "夏侯": "Xiahou", "长孙": "Zhangsun", "宇文": "Yuwen", "司徒": "Situ", "端木": "Duanmu",
    "万俟": "Moqi", "西门": "Ximen", "南宫": "Nangong", "独孤": "Dugu", "轩辕": "Xuanyuan",
    "呼延": "Huyan", "澹台": "Tantai", "申屠": "Shentu", "闻人": "Wenren", "赫连": "Helian",
}  # fmt: skip
_SURNAME_READINGS = {
    "单": "Shan", "曾": "Zeng", "解": "Xie", "朴": "Piao", "查": "Zha", "仇": "Qiu", "区": "Ou",
    "乐": "Yue", "翟": "Zhai", "覃": "Qin", "盖": "Ge", "种": "Chong", "秘": "Bi", "缪": "Miao",
    "召": "Shao", "重": "Chong", "折": "She", "员": "Yun", "宿": "Su", "能": "Nai", "句": "Gou",
    "尉": "Yu", "藏": "Zang", "繁": "Po", "黑": "He", "长": "Chang", "朝": "Chao", "晟": "Cheng",
}  # fmt: skip
_KOREAN_COMPOUND_SURNAMES = {"남궁", "황보", "제갈", "선우", "독고", "사공", "서문"}
_GREEK_VOICELESS = "θκξπστφχψ"


def _scripts(text: str) -> set[str]:
    names = {unicodedata.name(c, "UNKNOWN").split(" ")[0] for c in text if c.isalpha()}
    return names - {"MODIFIER"}  # ʻ and ʼ belong to Latin names (Hawaiʻi, Nuuk's Kalaallisut)


def transliterate(name: str) -> str | None:
    """The name in Latin letters, family name where the name puts it; None when it is Latin
    already (diacritics stay as written) or is in a script this cannot transliterate."""
    scripts = _scripts(name)
    if scripts <= {"LATIN"} or not scripts <= _SUPPORTED:
        return None
    words = [w for w in _SEPARATORS.split(name.strip()) if w]
    return " ".join(_word(w, first=i == 0, alone=len(words) == 1) for i, w in enumerate(words))


def _word(word: str, *, first: bool, alone: bool) -> str:
    scripts = _scripts(word)
    if scripts <= {"LATIN"}:
        return word
    if scripts == {"CJK"}:
        if alone and len(word) >= 2:
            return _chinese_name(word)
        return _chinese_family(word) if first else _pinyin(word).capitalize()
    if scripts == {"HANGUL"} and alone and len(word) >= 2:
        split = 2 if word[:2] in _KOREAN_COMPOUND_SURNAMES else 1
        return f"{_latin(word[:split])} {_latin(word[split:])}"
    if "GREEK" in scripts:
        word = _greek_digraphs(word)
    if "CYRILLIC" in scripts:
        word = re.sub("[ьъЬЪ]", "", word)  # as passports and the press write Natalya, Olga
    latin = _latin(word)
    # anyascii marks Armenian aspirates with an apostrophe (Khach'atryan); passports do not.
    return latin.replace("'", "") if "ARMENIAN" in scripts else latin


def _latin(word: str) -> str:
    latin = anyascii(word)
    # Keep the writer's capitals (cased scripts); give uncased or all-lower-case words one
    # initial capital (anyascii writes 세훈 as SeHun and ქეთევან as ketevan).
    return latin if any(c.isupper() for c in word) else latin.capitalize()


def _pinyin(han: str) -> str:
    # Imported here: pypinyin loads its dictionaries on import, half a second of start-up that
    # a process printing no Chinese name need not pay.
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(han, style=Style.NORMAL, v_to_u=True, errors="ignore")
    # Pinyin orthography: an apostrophe before a/o/e that starts a later syllable (Jia'an).
    return "".join(("'" + s if i and s[:1] in "aoe" else s) for i, s in enumerate(syllables))


def _chinese_family(han: str) -> str:
    return _COMPOUND_SURNAMES.get(han) or _SURNAME_READINGS.get(han) or _pinyin(han).capitalize()


def _chinese_name(han: str) -> str:
    """Family name first, as in Chinese usage: 王小明 becomes Wang Xiaoming."""
    split = 2 if han[:2] in _COMPOUND_SURNAMES and len(han) > 2 else 1
    return f"{_chinese_family(han[:split])} {_pinyin(han[split:]).capitalize()}"


def _greek_digraphs(word: str) -> str:
    """ELOT 743, which Greek passports follow, where anyascii goes letter by letter."""
    # Accents off (anyascii drops them too); a diaeresis stays, as it splits a digraph (ϋ).
    text = unicodedata.normalize("NFD", word).replace("\u0301", "")

    def upsilon(match: re.Match[str]) -> str:
        vowel, ups = match.groups()
        after = match.string[match.end() : match.end() + 1]
        latin = {"ο": "u", "α": "v", "ε": "v", "η": "v"}[vowel.lower()]
        if latin == "v" and (not after or after.lower() in _GREEK_VOICELESS):
            latin = "f"  # αυ, ευ before a voiceless consonant or at the end: af, ef
        return vowel + (latin.upper() if ups.isupper() else latin)

    text = re.sub("([οαεηΟΑΕΗ])([υΥ])(?!\u0308)", upsilon, text)
    return re.sub("([γΓ])(?=[γξχΓΞΧ])", lambda m: "N" if m.group(1) == "Γ" else "n", text)
