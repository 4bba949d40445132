"""Arrow batch functions behind the ``normalizer``: phone numbers (``phonenumbers``), dates in
mixed formats, country names and codes, Unicode forms and accents.

Each takes one Arrow array (a batch) and returns one: the distinct values of the batch are
worked out once in Python (dictionary encoding), then spread back with ``take``, so Python
runs once per distinct value per batch, never per row. Unicode work is pure Arrow compute.
"""

from __future__ import annotations

import datetime as _dt
import functools
import unicodedata
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_DATE_FORMATS_DAY_FIRST = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y",
    "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%d %b. %Y", "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S",
)
DEFAULT_DATE_FORMATS_MONTH_FIRST = tuple(
    f.replace("%d/%m", "%m/%d").replace("%d-%m", "%m-%d").replace("%d.%m", "%m.%d")
    for f in DEFAULT_DATE_FORMATS_DAY_FIRST)
_FRENCH_MONTHS = {"janvier": "January", "février": "February", "fevrier": "February",
                  "mars": "March", "avril": "April", "mai": "May", "juin": "June",
                  "juillet": "July", "août": "August", "aout": "August",
                  "septembre": "September", "octobre": "October", "novembre": "November",
                  "décembre": "December", "decembre": "December"}


def map_distinct(array: pa.Array | pa.ChunkedArray, fn: Callable[[Any], Any],
                 out_type: pa.DataType) -> pa.Array:
    """Apply ``fn`` to each distinct non-null value of ``array``; nulls stay null."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) == 0:
        return pa.array([], type=out_type)
    encoded = pc.dictionary_encode(array)
    dictionary = encoded.dictionary.to_pylist()
    mapped = pa.array([fn(v) for v in dictionary], type=out_type)
    return mapped.take(encoded.indices)


# -- phones


def phone_to_e164(array: pa.Array, region: str) -> pa.Array:
    import phonenumbers

    def convert(value: str) -> str | None:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    return map_distinct(array, convert, pa.string())


# -- dates


def parse_dates(array: pa.Array, formats: tuple[str, ...]) -> pa.Array:
    def convert(value: str) -> _dt.date | None:
        text = " ".join(value.strip().split())
        if not text:
            return None
        lowered = text.lower()
        for fr, en in _FRENCH_MONTHS.items():
            if fr in lowered:
                lowered = lowered.replace(fr, en.lower())
                text = lowered
                break
        for fmt in formats:
            try:
                return _dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        try:
            return _dt.date.fromisoformat(text)
        except ValueError:
            return None

    return map_distinct(array, convert, pa.date32())


# -- countries


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join("".join(ch if ch.isalnum() else " " for ch in bare).split())


_ALIASES = {"usa": "US", "united states of america": "US", "etats unis d amerique": "US",
            "uk": "GB", "great britain": "GB", "england": "GB", "angleterre": "GB",
            "grande bretagne": "GB", "holland": "NL", "hollande": "NL", "russia": "RU",
            "south korea": "KR", "north korea": "KP", "ivory coast": "CI", "czechia": "CZ",
            "usa.": "US", "u s a": "US", "u s": "US", "uae": "AE", "deutschland": "DE",
            "espana": "ES", "italia": "IT", "suisse": "CH", "schweiz": "CH", "belgie": "BE",
            "nederland": "NL", "brasil": "BR", "mexique": "MX", "usa ": "US"}
_ALPHA3 = {"USA": "US", "GBR": "GB", "FRA": "FR", "DEU": "DE", "ESP": "ES", "ITA": "IT",
           "BEL": "BE", "NLD": "NL", "CHE": "CH", "AUT": "AT", "PRT": "PT", "IRL": "IE",
           "LUX": "LU", "CAN": "CA", "MEX": "MX", "BRA": "BR", "ARG": "AR", "CHN": "CN",
           "JPN": "JP", "KOR": "KR", "IND": "IN", "AUS": "AU", "NZL": "NZ", "ZAF": "ZA",
           "MAR": "MA", "DZA": "DZ", "TUN": "TN", "SEN": "SN", "CIV": "CI", "POL": "PL",
           "SWE": "SE", "NOR": "NO", "DNK": "DK", "FIN": "FI", "GRC": "GR", "TUR": "TR",
           "RUS": "RU", "UKR": "UA", "ROU": "RO", "CZE": "CZ", "HUN": "HU", "ISR": "IL",
           "EGY": "EG", "ARE": "AE", "SAU": "SA", "SGP": "SG", "HKG": "HK", "TWN": "TW"}


@functools.cache
def country_index() -> dict[str, str]:
    """Folded country names (every language phonenumbers knows) and codes -> alpha-2."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    index: dict[str, str] = {}
    for code, names in LOCALE_DATA.items():
        if len(code) != 2 or not code.isalpha():
            continue
        index[code.lower()] = code
        for name in names.values():
            if name and not name.startswith("*"):
                index.setdefault(_fold(name), code)
    for code3, code2 in _ALPHA3.items():
        index.setdefault(code3.lower(), code2)
    for alias, code in _ALIASES.items():
        index.setdefault(_fold(alias), code)
    return index


def country_to_iso(array: pa.Array) -> pa.Array:
    index = country_index()
    return map_distinct(array, lambda v: index.get(_fold(v)), pa.string())


# -- unicode


def unicode_normalize(array: pa.Array, form: str) -> pa.Array:
    return pc.utf8_normalize(array, form=form)


def strip_accents(array: pa.Array) -> pa.Array:
    decomposed = pc.utf8_normalize(array, form="NFKD")
    bare = pc.replace_substring_regex(decomposed, pattern=r"\p{Mn}", replacement="")
    return pc.utf8_normalize(bare, form="NFC")
