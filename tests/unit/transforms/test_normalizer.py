from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecluse.sdk import ConfigError
from ecluse.sdk import normalize as nz
from tests.helpers import chain, node, run_doc, transform_table
from tests.unit.transforms.util import ENGINES, design_schema

T = pa.table({
    "email": ["  John.Doe@Example.COM ", "bad@", None, ""],
    "phone": ["06 12 34 56 78", "+1 650-253-0000", "123", None],
    "d": ["2024-03-05", "05/03/2024", "5 mars 2024", "garbage"],
    "country": ["France", "allemagne", "USA", "Narnia"],
    "name": ["  Élodie   Müller\t", "\uff21\uff42\uff43 \ufb01", None, "x"],
    "b": ["Oui", "no", "1", "maybe"],
})


@pytest.mark.parametrize("engine", ENGINES)
def test_everything_at_once(engine: str) -> None:
    out = transform_table("normalizer", T, engine=engine, email=["email"], phone=["phone"],
                          phone_region="FR", date=["d"], country=["country"],
                          whitespace=["name"], strip_accents=["name"], unicode=["name"],
                          unicode_form="NFKC", boolean=["b"])
    assert out.column_names == [*T.column_names, "email_valid"]
    assert out.to_pydict() == {
        "email": ["john.doe@example.com", "bad@", None, None],
        "phone": ["+33612345678", "+16502530000", None, None],
        "d": [dt.date(2024, 3, 5)] * 3 + [None],
        "country": ["FR", "DE", "US", None],
        "name": ["Elodie Muller", "Abc fi", None, "x"],
        "b": [True, False, True, None],
        "email_valid": [True, False, False, False],
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_options(engine: str) -> None:
    t = pa.table({"d": ["03/04/2024", "2024.04.03", None], "b": pa.array([1, 0, None]),
                  "s": ["Café", "cafe\u0301", None]})
    out = transform_table("normalizer", t, engine=engine, date=["d"], day_first=False,
                          boolean=["b"], unicode=["s"])
    assert out.column("d").to_pylist() == [dt.date(2024, 3, 4), None, None]
    assert out.column("b").to_pylist() == [True, False, None]
    assert out.column("s").to_pylist() == ["Café", "café", None]
    out = transform_table("normalizer", t, engine=engine, date=["d"], date_formats=["%Y.%m.%d"])
    assert out.column("d").to_pylist() == [None, dt.date(2024, 4, 3), None]
    words = pa.table({"b": ["ja", "nope", "JA "]})
    out = transform_table("normalizer", words, engine=engine, boolean=["b"], true_words=["ja"],
                          false_words=["nope"])
    assert out.column("b").to_pylist() == [True, False, True]
    empty = transform_table("normalizer", T.slice(0, 0), engine=engine, phone=["phone"],
                            phone_region="US", country=["country"], email=["email"])
    assert empty.num_rows == 0


def test_batch_functions() -> None:
    assert nz.phone_to_e164(pa.array(["0612345678", "0612345678", None]), "FR").to_pylist() == [
        "+33612345678", "+33612345678", None]
    assert nz.country_to_iso(pa.array(["Deutschland", "ESP", "be", "C\u00f4te d\u2019Ivoire"])).to_pylist() \
        == ["DE", "ES", "BE", "CI"]
    assert nz.strip_accents(pa.array(["ÀÉÎõü ñ"])).to_pylist() == ["AEIou n"]
    assert nz.map_distinct(pa.chunked_array([[]], pa.string()), str.upper, pa.string()) \
        .to_pylist() == []


def test_schema_and_errors() -> None:
    sch = {"in": [{"email": "string", "n": "int64", "d": "string", "b": "int64"}]}
    assert design_schema("normalizer", sch, email=["email"], date=["d"], boolean=["b"]) == [
        ("email", "string"), ("n", "int64"), ("d", "date"), ("b", "boolean"),
        ("email_valid", "boolean")]
    with pytest.raises(ConfigError, match="'n' is int64, not text") as info:
        design_schema("normalizer", sch, whitespace=["n"])
    assert info.value.field == "whitespace"
    with pytest.raises(ConfigError, match="did you mean 'email'"):
        design_schema("normalizer", sch, email=["emial"])
    for bad in ({}, {"phone": ["email"]}, {"phone": ["email"], "phone_region": "ZZ"},
                {"boolean": ["b"], "true_words": ["x"], "false_words": ["x"]}):
        with pytest.raises(ValueError):
            design_schema("normalizer", sch, **bad)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("loader", ["parquet", "duckdb"])
def test_python_parsers_reach_the_loaders(engine: str, loader: str, workdir: Path) -> None:
    """Dates and phones are parsed by Python functions inside the query: every way a loader
    runs that query (a COPY, a database-file load) must see them, not only previews."""
    (workdir / "in.csv").write_text("d,phone\n03/04/2024,06 12 34 56 78\n2024-02-03,nope\n")
    out = {"parquet": {"path": "out.parquet"},
           "duckdb": {"path": "out.duckdb", "table": "t"}}[loader]
    doc = chain(node("src", "extractor", "csv", path="in.csv",
                     columns={"d": "string", "phone": "string"}),
                node("n", "transformer", "normalizer", date=["d"], phone=["phone"],
                     phone_region="FR"),
                node("dst", "loader", loader, **out))
    result = run_doc(doc, engine=engine)
    assert result.status == "succeeded", result.error
    if loader == "parquet":
        rows = pq.read_table(workdir / "out.parquet").to_pylist()
    else:
        with duckdb.connect(str(workdir / "out.duckdb")) as con:
            rows = con.execute("SELECT * FROM t").fetch_arrow_table().to_pylist()
    assert rows == [{"d": dt.date(2024, 4, 3), "phone": "+33612345678"},
                    {"d": dt.date(2024, 2, 3), "phone": None}]


@pytest.mark.parametrize("engine", ENGINES)
def test_python_parsers_reach_sql_views(engine: str, workdir: Path) -> None:
    """The sql transform names its input as a view; the parser inside must still run."""
    (workdir / "in.csv").write_text("d\n03/04/2024\n")
    doc = chain(node("src", "extractor", "csv", path="in.csv", columns={"d": "string"}),
                node("n", "transformer", "normalizer", date=["d"]),
                node("q", "transformer", "sql", query="SELECT d FROM input"),
                node("dst", "loader", "parquet", path="out.parquet"))
    doc["edges"][1]["target_handle"] = "in"
    result = run_doc(doc, engine=engine)
    assert result.status == "succeeded", result.error
    assert pq.read_table(workdir / "out.parquet").to_pylist() == [{"d": dt.date(2024, 4, 3)}]
