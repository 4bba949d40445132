"""'Did you mean …?' for names people mistype: the closest candidate by edit distance, where
swapping two neighbouring letters counts as one edit (``cvs`` -> ``csv``, not ``gcs``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ecluse.sdk.errors import ConfigError


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (insert, delete, substitute, swap neighbours)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The nearest candidate, if near enough to be a slip (about a third of the letters)."""
    best: tuple[int, str] | None = None
    lowered = name.lower()
    for candidate in candidates:
        distance = edit_distance(lowered, candidate.lower())
        if best is None or distance < best[0]:
            best = (distance, candidate)
    if best is None or best[0] > max(1, len(name) // 3):
        return None
    return best[1]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` or an empty string."""
    found = closest(name, candidates)
    return f" Did you mean {found!r}?" if found else ""


def no_such(kind: str, name: str, known: Iterable[str], *, within: str | None = None) -> ConfigError:
    """``table 'x' does not exist in database 'd'. Did you mean 'y'?``, on the setting `table`
    (a database extractor's table, its database or schema)."""
    where = f" in {within}" if within else ""
    return ConfigError(f"{kind} {name!r} does not exist{where}.{did_you_mean(name, known)}",
                       field="table")


def missing_column(table: str, wanted: Iterable[str], names: Sequence[str], *,
                   fold_case: bool = False) -> ConfigError | None:
    """The first of the ``columns`` setting's names that ``table`` lacks, as an error with a
    'Did you mean'; ``fold_case`` where the database matches names whatever their case."""
    known = {n.lower() if fold_case else n for n in names}
    for column in wanted:
        if (column.lower() if fold_case else column) not in known:
            return ConfigError(f"table {table!r} has no column {column!r}."
                               f"{did_you_mean(column, names)}", field="columns")
    return None
