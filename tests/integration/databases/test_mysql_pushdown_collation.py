"""ELT pushdown into MariaDB on text columns whose collation is case-, accent- or
trailing-space-insensitive: the server compares the code points, as the engine does, so a
pushed-down chain gives the engine's results ('a', 'A', 'á' and 'a ' stay four values)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ecluse.cli import app
from tests.helpers import chain, node, run_doc
from tests.integration.databases.test_pushdown_servers import _mysql

NAMES = ["a", "A", "á", "a ", "b", "B", None]

CHAINS: dict[str, list[dict[str, Any]]] = {
    # Ibis compiles `=` (filters and join keys) as a binary comparison: these stay exact
    "equal": [node("t", "transformer", "filter", condition="name = 'a '")],
    "in": [node("t", "transformer", "filter", condition="name IN ('a', 'b')")],
    "like": [node("t", "transformer", "filter", condition="name LIKE 'a%'")],
    "less": [node("t", "transformer", "filter", condition="name < 'b'")],
    "not_equal": [node("t", "transformer", "filter", condition="name <> 'a'")],
    "contains": [node("t", "transformer", "filter", condition="contains(name, 'a')")],
    "group_by": [node("t", "transformer", "aggregate", group_by=["name"],
                      aggregations=[{"function": "count", "name": "n"}])],
    "count_distinct": [node("t", "transformer", "aggregate", group_by=["grp"],
                            aggregations=[{"column": "name", "function": "count_distinct",
                                           "name": "names"}])],
    "deduplicate": [node("t", "transformer", "deduplicate", columns=["name"], keep="first",
                         order_by=[{"column": "id"}])],
    "remove_duplicates": [node("t", "transformer", "select", columns=["name"]),
                          node("u", "transformer", "cleaner", remove_duplicates=True)],
    "sort": [node("t", "transformer", "sort", by=[{"column": "name"}, {"column": "id"}]),
             node("u", "transformer", "limit", n=3)],
    "enum_sort": [node("t", "transformer", "sort", by=[{"column": "kind"}, {"column": "id"}]),
                  node("u", "transformer", "limit", n=2)],
    "join": [node("t", "transformer", "join", how="inner", on=["name"])],
}


def _create(run: Any, collation: str) -> None:
    charset = collation.split("_")[0]
    # an ENUM sorts by its place in the list; an INVISIBLE column is not in SELECT *
    run(f"CREATE TABLE words (id INT PRIMARY KEY, grp INT, name VARCHAR(16) CHARACTER SET "
        f"{charset} COLLATE {collation}, kind ENUM('z', 'a'), hidden VARCHAR(8) INVISIBLE, "
        f"KEY (name)) DEFAULT CHARSET={charset} COLLATE={collation}")
    values = ", ".join(f"({i}, {i % 2}, {'NULL' if n is None else repr(n)}, "
                       f"'{'za'[i % 2]}')" for i, n in enumerate(NAMES))
    run(f"INSERT INTO words VALUES {values}")


def _doc(middle: list[dict[str, Any]], target: str) -> dict[str, Any]:
    src = node("s", "extractor", "mysql", connection="test-mysql", table="words")
    out = node("o", "loader", "mysql", connection="test-mysql", table=target, mode="replace")
    if middle[0]["module"] != "join":
        return chain(src, *middle, out)
    other = node("s2", "extractor", "mysql", connection="test-mysql", table="words",
                 columns=["name"])
    doc = chain(src, *middle, out)
    doc["nodes"].insert(1, other)
    doc["edges"] = [{"source": "s", "target": "t", "target_handle": "left"},
                    {"source": "s2", "target": "t", "target_handle": "right"},
                    {"source": "t", "target": "o"}]
    return doc


@pytest.mark.parametrize("collation", ["utf8mb4_general_ci", "utf8mb4_unicode_ci",
                                       "latin1_swedish_ci", "utf8mb4_bin"])
@pytest.mark.parametrize("chain_name", list(CHAINS))
def test_text_compares_as_in_the_engine(mysql_url: str, collation: str, chain_name: str) -> None:
    run = _mysql(mysql_url)
    _create(run, collation)
    middle = CHAINS[chain_name]

    engine = run_doc(_doc(middle, "by_engine"), pushdown=False)
    assert engine.status == "succeeded", engine.error
    pushed = run_doc(_doc(middle, "by_server"))
    assert pushed.status == "succeeded", pushed.error
    assert pushed.nodes["o"].extra["pushed_down"].startswith("mysql://")

    def table(name: str) -> list[tuple[Any, ...]]:
        return sorted(run(f"SELECT * FROM {name}"), key=repr)

    assert table("by_server") == table("by_engine")


def test_explain_shows_the_table_read_by_code_point(mysql_url: str, tmp_path: Path) -> None:
    run = _mysql(mysql_url)
    _create(run, "utf8mb4_general_ci")
    file = tmp_path / "p.json"
    file.write_text(json.dumps(_doc(CHAINS["in"], "out")))
    result = CliRunner().invoke(app, ["run", str(file), "--explain", "--json"])
    assert result.exit_code == 0, result.output
    (step,) = json.loads(result.output)
    assert step["mode"] == "pushdown"
    sql = step["sql"]
    assert "`name` COLLATE utf8mb4_nopad_bin AS `name`" in sql
    assert "`kind` COLLATE utf8mb4_nopad_bin AS `kind`" in sql
    assert "`id`," in sql and "`id` COLLATE" not in sql
    # the IN is checked first in the column's own collation, inside: the index serves it
    assert "WHERE\n    `name` IN ('a', 'b')\n) AS `t0`" in sql
    (plan,) = run(f"EXPLAIN FORMAT=JSON {sql}")[0]
    assert '"possible_keys": ["name"]' in plan
    # the server merges the derived table into the query: nothing is materialised
    assert "materialized" not in plan and "temporary_table" not in plan
