"""What a CSV file does not say about itself: its encoding, its separator and its decimal mark,
guessed from the first lines the way a person opening it would."""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ecluse.sdk.errors import shown

_SAMPLE_LINES = 200
GROUP_SEPARATORS = "[ .\u00a0\u202f]"
"""Between groups of thousands: a space (also non-breaking, narrow) or a dot. A character
class with the characters themselves, so every engine's regular expressions read it."""
GROUPED_NUMBER = rf"^\s*[+-]?\d{{1,3}}(?:{GROUP_SEPARATORS}\d{{3}})+(?:,\d+)?\s*$"
"""A whole value grouped by thousands, with or without decimals (``-1.234.567,5``)."""
_GROUPED_NUMBER = re.compile(GROUPED_NUMBER)
_PLAIN_COMMA_NUMBER = re.compile(r"[+-]?\d+,\d+")
_DOT_NUMBER = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def detect_encoding(path: str) -> str:
    """UTF-8 (with or without BOM) or UTF-16 when the first megabyte says so; otherwise
    latin-1, or cp1252 when its extra characters (euro sign, curly quotes...) appear."""
    with Path(path).open("rb") as f:
        sample = f.read(1 << 20)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    cut = sample.rfind(b"\n") if len(sample) == 1 << 20 else len(sample)
    try:
        sample[: cut if cut > 0 else len(sample)].decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252" if any(0x80 <= b <= 0x9F for b in sample) else "latin-1"
    return "utf-8"


def _lines(path: str, encoding: str) -> list[str]:
    with Path(path).open(encoding=encoding, errors="replace", newline="") as f:
        return [ln for ln in f.read(64 * 1024).splitlines()[:_SAMPLE_LINES] if ln.strip()]


def sniff_delimiter(path: str, encoding: str = "utf-8") -> str:
    """The separator that splits the first line into the most fields and most other lines
    into the same number (robust to a few broken rows, unlike a whole-sample sniffer)."""
    lines = _lines(path, encoding)
    if not lines:
        return ","
    best, best_score = ",", (0.0, 0)
    for candidate in (",", ";", "\t", "|"):
        fields = len(next(csv.reader([lines[0]], delimiter=candidate)))
        if fields < 2:
            continue
        same = sum(len(row) == fields for row in csv.reader(lines[1:] or lines, delimiter=candidate))
        score = (same / max(len(lines) - 1, 1), fields)
        if score > best_score:
            best, best_score = candidate, score
    return best


def header_names(path: str, encoding: str, delimiter: str, *, skip_rows: int = 0) -> list[str]:
    """The column names on a file's header line, a repeated name numbered as the engines
    read it (``name``, ``name_1``, ``name_2``)."""
    with Path(path).open(encoding=encoding, errors="replace", newline="") as f:
        for _ in range(skip_rows):
            f.readline()
        names = [name.strip() for name in next(csv.reader([f.readline()], delimiter=delimiter))]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            seen[name] += 1
            names[i] = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
    return names


@dataclass(frozen=True)
class NumberStyle:
    decimal: Literal[".", ","]
    grouped: tuple[str, ...] = ()
    """Columns whose numbers group thousands (``1 234,50``, ``1.234,50``): no CSV reader
    parses those, so they are read as text and converted after."""


def sniff_numbers(path: str, encoding: str, delimiter: str, *, header: bool = True,
                  decimal: Literal[".", ","] | None = None) -> NumberStyle:
    """A decimal comma (``12,50``, as spreadsheets write numbers in most of Europe) or a
    decimal point. A comma can only be a decimal mark in a file not separated by commas, and
    the guess needs a column of such numbers and no number with a decimal point anywhere in
    the sample. ``decimal``: the mark the user chose; then only the columns that group
    thousands are looked for (with a decimal comma, ``1.234`` is then a grouped integer)."""
    if decimal == "." or (decimal is None and delimiter == ","):
        return NumberStyle(".")
    rows = list(csv.reader(_lines(path, encoding), delimiter=delimiter))
    names, rows = (rows[0], rows[1:]) if header and rows else ([], rows)
    comma, grouped, text = False, set[int](), set[int]()
    for row in rows:
        if names and len(row) == len(names) + 1 and not row[-1]:
            row = row[:-1]  # a line ending with a separator: DuckDB reads it as a full row
        if names and len(row) != len(names):
            continue  # a broken row says nothing reliable about the columns
        for i, value in enumerate(v.strip() for v in row):
            if _PLAIN_COMMA_NUMBER.fullmatch(value):
                comma = True
            elif _GROUPED_NUMBER.fullmatch(value) and (decimal or "," in value):
                # without a comma, 1.234 is a grouped integer only where the user said so
                comma = comma or "," in value
                grouped.add(i)
            elif _DOT_NUMBER.fullmatch(value):
                if decimal is None:
                    return NumberStyle(".")
                text.add(i)
            elif value and not _INTEGER.fullmatch(value):
                text.add(i)
    if not (comma or decimal):
        return NumberStyle(".")
    return NumberStyle(",", tuple(names[i] for i in sorted(grouped - text) if i < len(names)))


def first_malformed_line(paths: Sequence[str], delimiter: str, encoding: str, quote: str | None,
                         skip_rows: int = 0, max_lines: int = 1_000_000, *,
                         rows_set_aside: bool = False) -> str | None:
    """Find the first row whose field count differs from the header's, or a quote never
    closed, to say where a file is broken when the engine's own message cannot.
    ``rows_set_aside``: such rows are skipped or quarantined, so look past them for a quote."""
    for path in paths:
        with Path(path).open(encoding=encoding.replace("-", "_"), errors="replace", newline="") as f:
            for _ in range(skip_rows):
                f.readline()
            reader = csv.reader(f, delimiter=delimiter, quotechar=quote or '"',
                                quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE)
            expected, ended, first = None, 0, None
            try:
                for row in reader:
                    start, ended = ended + 1 + skip_rows, reader.line_num
                    if ended > max_lines:
                        break
                    if not row:
                        continue
                    if expected is None:
                        expected = len(row)
                    elif len(row) != expected:
                        line = delimiter.join(row)
                        if quote and "\n" in line and not f.read(1):  # read to the end
                            return (f"{Path(path).name} line {start} opens a quote ({quote}) that "
                                    f"is never closed: {shown(line.splitlines()[0])}")
                        first = first or (f"{Path(path).name} line {start} has {len(row)} "
                                          f"field(s) where the header has {expected}: "
                                          f"{shown(line)}")
                        if not rows_set_aside:
                            return first
            except csv.Error:  # a field over Python's limit: the engine's own words tell more
                return None
            if first:
                return first
    return None


