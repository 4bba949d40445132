"""Transformer ``normalizer``: put messy values into one canonical form, column by column —
emails, phone numbers (E.164), dates in mixed formats (ISO dates), countries (ISO 3166-1
alpha-2), Unicode forms and accents, whitespace, boolean words.

Emails, whitespace and booleans are plain Ibis expressions. Phones, dates and countries need
Python libraries, and Unicode work needs Arrow compute: those run as batch UDFs
(:func:`ecluse.sdk.native.batch_udf`), so the engine hands them one Arrow batch at a time on
every engine, and Python works once per distinct value of a batch (see
:mod:`ecluse.sdk.normalize`). Columns are normalised in place, in this order: whitespace,
unicode, accents, then emails, phones, dates, countries, booleans.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from pydantic import Field, field_validator, model_validator

from ecluse.sdk import ConfigError, Inputs, ModuleConfig, NodeContext, Transformer, columns_field
from ecluse.sdk import normalize as nz
from ecluse.sdk.native import batch_udf
from ecluse.sdk.relational import require_columns
from ecluse.sdk.types import type_name

EMAIL_PATTERN = (r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                 r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
TRUE_WORDS = ("true", "t", "yes", "y", "1", "on", "oui", "o", "vrai", "si", "sí", "ja")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "non", "faux", "nein")
_udf_names = itertools.count()


class NormalizerConfig(ModuleConfig):
    whitespace: list[str] = columns_field("Text columns whose runs of spaces, tabs and line "
                                          "breaks become one space, trimmed at both ends.",
                                          default_factory=list)
    unicode: list[str] = columns_field("Text columns put in one Unicode form (`unicode_form`).",
                                       default_factory=list)
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] = Field(
        "NFC", description="NFC (composed, the usual choice) or NFKC (also folds look-alike "
        "characters such as ligatures and full-width letters).")
    strip_accents: list[str] = columns_field("Text columns whose accents are removed "
                                             "(é -> e).", default_factory=list)
    email: list[str] = columns_field("Email columns: trimmed and lower-cased; a boolean column "
                                     "`<column>_valid` tells whether the address looks valid.",
                                     default_factory=list)
    phone: list[str] = columns_field("Phone columns, rewritten in E.164 (+33612345678); "
                                     "numbers that are not valid become null.",
                                     default_factory=list)
    phone_region: str | None = Field(None, min_length=2, max_length=2, description="Country "
                                     "assumed for numbers written without +code (ISO alpha-2, "
                                     "e.g. FR).", examples=["FR"])
    date: list[str] = columns_field("Text columns holding dates in mixed formats, turned into "
                                    "dates (shown as ISO YYYY-MM-DD); unreadable values become "
                                    "null.", default_factory=list)
    day_first: bool = Field(True, description="Read 03/04/2024 as 3 April (true) or March 4.")
    date_formats: list[str] | None = Field(None, description="strptime formats tried in order; "
                                           "common formats when empty.")
    country: list[str] = columns_field("Country names (in many languages) or codes, turned into "
                                       "ISO 3166-1 alpha-2 codes (FR, DE...); unknown become "
                                       "null.", default_factory=list)
    boolean: list[str] = columns_field("Columns of yes/no words turned into booleans; other "
                                       "values become null.", default_factory=list)
    true_words: list[str] = Field(list(TRUE_WORDS), description="Words read as true (any case).")
    false_words: list[str] = Field(list(FALSE_WORDS), description="Words read as false.")

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import phonenumbers

        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r}; use an ISO code such as FR, US")
        return region

    @model_validator(mode="after")
    def _check(self) -> NormalizerConfig:
        if self.phone and self.phone_region is None:
            raise ValueError("phone columns need 'phone_region' (e.g. FR)")
        if not any((self.whitespace, self.unicode, self.strip_accents, self.email, self.phone,
                    self.date, self.country, self.boolean)):
            raise ValueError("choose at least one column to normalise")
        overlap = set(self.true_words) & set(self.false_words)
        if overlap:
            raise ValueError(f"words both true and false: {', '.join(sorted(overlap))}")
        return self


class Normalizer(Transformer):
    name = "normalizer"
    title = "Normalise"
    description = "Canonical emails, phones (E.164), ISO dates and countries, accents, spaces."
    category = "Cleaning"
    icon = "spellcheck"
    Config = NormalizerConfig
    config: NormalizerConfig
    pushdown: ClassVar = False
    examples: ClassVar = (
        {"email": ["email"], "phone": ["phone"], "phone_region": "FR", "date": ["birth_date"],
         "country": ["country"], "whitespace": ["name"], "strip_accents": ["name"],
         "boolean": ["newsletter"]},
    )

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        t = inputs.one()
        schema = t.schema()
        for field in ("whitespace", "unicode", "strip_accents", "email", "phone", "date",
                      "country", "boolean"):
            cols = getattr(c, field)
            require_columns(t, cols, field=field)
            if field != "boolean":
                for col in cols:
                    if not isinstance(schema[col], dt.String):
                        raise ConfigError(f"column {col!r} is {type_name(schema[col])}, not text; "
                                          f"{field} applies to text columns", field=field)
        values: dict[str, ir.Value] = {col: t[col] for col in t.columns}
        extra: dict[str, ir.Value] = {}
        tag = f"{re.sub(r'[^0-9A-Za-z]', '_', self.node_id)}_{next(_udf_names)}"

        def udf(kind: str, fn: Callable[[Any], Any], out: dt.DataType) -> Any:
            return batch_udf(ctx, t, fn, name=f"ecluse_{kind}_{tag}", output=out)

        for col in c.whitespace:
            values[col] = values[col].re_replace(r"\s+", " ").strip()  # type: ignore[attr-defined]
        if c.unicode:
            form = c.unicode_form
            norm = udf("unicode", lambda a: nz.unicode_normalize(a, form), dt.string)
            for col in c.unicode:
                values[col] = norm(values[col])
        if c.strip_accents:
            strip = udf("accents", nz.strip_accents, dt.string)
            for col in c.strip_accents:
                values[col] = strip(values[col])
        for col in c.email:
            email = values[col].strip().lower()  # type: ignore[attr-defined]
            email = ibis.ifelse(email == "", ibis.null("string"), email)
            values[col] = email
            flag = f"{col}_valid"
            if flag in values:
                raise ConfigError(f"the input already has a column {flag!r}", field="email")
            extra[flag] = email.re_search(EMAIL_PATTERN).fill_null(False)
        if c.phone:
            region = c.phone_region or "US"
            phone = udf("phone", lambda a: nz.phone_to_e164(a, region), dt.string)
            for col in c.phone:
                values[col] = phone(values[col])
        if c.date:
            formats = tuple(c.date_formats or (nz.DEFAULT_DATE_FORMATS_DAY_FIRST if c.day_first
                                               else nz.DEFAULT_DATE_FORMATS_MONTH_FIRST))
            parse = udf("date", lambda a: nz.parse_dates(a, formats), dt.date)
            for col in c.date:
                values[col] = parse(values[col])
        if c.country:
            country = udf("country", nz.country_to_iso, dt.string)
            for col in c.country:
                values[col] = country(values[col])
        for col in c.boolean:
            values[col] = self._boolean(values[col])
        return t.select(*[v.name(n) for n, v in values.items()],
                        *[v.name(n) for n, v in extra.items()])

    def _boolean(self, value: ir.Value) -> ir.Value:
        if isinstance(value.type(), dt.Boolean):
            return value
        word = value.cast("string").strip().lower()  # type: ignore[attr-defined]
        trues = [w.strip().lower() for w in self.config.true_words]
        falses = [w.strip().lower() for w in self.config.false_words]
        return ibis.cases((word.isin(trues), True), (word.isin(falses), False),
                          else_=ibis.null("boolean"))

