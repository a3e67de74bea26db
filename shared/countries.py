"""Country names, one source for every page, badge, export and mail: CLDR (Unicode's locale
data, through babel) in English or Simplified Chinese, pycountry's name where CLDR has none.
Every ISO 3166-1 alpha-2 code the APIs accept has a name."""

from __future__ import annotations

from functools import cache

import pycountry
from babel import Locale

LOCALES = {"en": "en_GB", "zh": "zh_Hans_CN"}


@cache
def names(lang: str = "en") -> dict[str, str]:
    """Every country's name by code, in `lang` ("en" or "zh")."""
    territories = Locale.parse(LOCALES.get(lang, LOCALES["en"])).territories
    return {c.alpha_2: territories.get(c.alpha_2) or c.name for c in pycountry.countries}


def name(code: str, lang: str = "en") -> str:
    """The country's name; the code itself when it is no country's."""
    return names(lang).get(code.upper(), code)
