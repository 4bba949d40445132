"""The csv extractor on real-world messiness: encodings, separators, decimal commas, broken rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ecluse.sdk.csv_sniff import NumberStyle, sniff_delimiter, sniff_numbers
from tests.helpers import chain, node, preview, run_doc, schemas

ENGINES = ["duckdb", "polars"]


def csv_doc(**config: object) -> dict[str, object]:
    return chain(node("src", "extractor", "csv", **config),
                 node("out", "loader", "parquet", path="out.parquet"))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-8-sig", "utf-8"])
def test_encodings(workdir: Path, engine: str, encoding: str) -> None:
    text = "nom;ville;montant\nZoé;Besançon;12,50\nŒuvre;Lyon;3,25\n"
    if encoding == "latin-1":
        text = text.replace("Œuvre", "Oeuvre")  # Œ does not exist in latin-1
    data = text.encode(encoding if encoding != "utf-8-sig" else "utf-8-sig")
    (workdir / "in.csv").write_bytes(data)
    rows = preview(csv_doc(path="in.csv", delimiter=";", encoding=encoding, decimal=","), "src",
                   engine=engine).to_pylist()
    assert rows[0] == {"nom": "Zoé", "ville": "Besançon", "montant": 12.5}
    assert rows[1]["montant"] == 3.25
    assert list(rows[0]) == ["nom", "ville", "montant"]  # no BOM glued to the first name


@pytest.mark.parametrize("engine", ENGINES)
def test_delimiter_detected_and_explicit_types_and_nulls(workdir: Path, engine: str) -> None:
    (workdir / "in.csv").write_text("id|code|amount|city\n1|007|NA|Lyon\n2|-|4.5|\n")
    doc = csv_doc(path="in.csv", null_values=["NA", "-"], columns={"code": "string"})
    cols = dict(schemas(doc, engine=engine)["src"] or [])
    assert cols == {"id": "int64", "code": "string", "amount": "float64", "city": "string"}
    rows = preview(doc, "src", engine=engine).to_pylist()
    assert rows == [{"id": 1, "code": "007", "amount": None, "city": "Lyon"},
                    {"id": 2, "code": None, "amount": 4.5, "city": None}]  # empty stays missing


@pytest.mark.parametrize("engine", ENGINES)
def test_no_header_and_glob(workdir: Path, engine: str) -> None:
    (workdir / "in").mkdir()
    (workdir / "in" / "a.csv").write_text("1,x\n2,y\n")
    (workdir / "in" / "b.csv").write_text("3,z\n")
    result = run_doc(csv_doc(path="in/*.csv", header=False), engine=engine)
    assert result.status == "succeeded", result.error
    assert result.nodes["out"].rows_out == 3


def _broken(workdir: Path) -> None:
    (workdir / "in.csv").write_text("id,name,amount\n1,a,1.5\n2,b\n3,c,2.5,extra\n4,d,4.0\n")


def test_on_error_fail_names_node_and_line(workdir: Path) -> None:
    _broken(workdir)
    result = run_doc(csv_doc(path="in.csv"))
    assert result.status == "failed"
    assert result.error is not None and result.error.node_id in {"src", "out"}
    assert "line" in result.error.reason.lower() or "row" in result.error.reason.lower()
    assert not (workdir / "out.parquet").exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_on_error_skip_counts(workdir: Path, engine: str) -> None:
    _broken(workdir)
    result = run_doc(csv_doc(path="in.csv", on_error="skip"), engine=engine)
    assert result.status == "succeeded", result.error
    assert result.nodes["out"].rows_out == 2
    assert result.nodes["src"].rows_rejected == 2


def test_on_error_quarantine_writes_side_file(workdir: Path) -> None:
    _broken(workdir)
    result = run_doc(csv_doc(path="in.csv", on_error="quarantine"), data_dir=workdir / "data")
    assert result.status == "succeeded", result.error
    src = result.nodes["src"]
    assert src.rows_rejected == 2
    side = Path(src.extra["rejected_path"])
    content = side.read_text()
    assert "2,b" in content and "3,c,2.5,extra" in content
    assert result.nodes["out"].rows_out == 2
    assert src.rows_out == 2


FOOTER = "id,name,amount\n1,a,10\n2,b,20\n3,c,30\nTOTAL,,,60\n"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_total_line_with_a_field_too_many_is_a_broken_row_not_the_header(
        workdir: Path, engine: str) -> None:
    """DuckDB's sniffer, left to guess how many lines to skip, took such a footer for the
    header: the run succeeded with 0 rows."""
    (workdir / "in.csv").write_text(FOOTER)
    result = run_doc(csv_doc(path="in.csv"), engine=engine)
    assert result.status == "failed"
    assert not (workdir / "out.parquet").exists()
    if engine == "duckdb":
        assert result.error is not None and result.error.node_id == "src"
        assert "line 5" in result.error.reason and "TOTAL,,,60" in result.error.reason
    skipped = run_doc(csv_doc(path="in.csv", on_error="skip"), engine=engine)
    assert skipped.status == "succeeded", skipped.error
    assert pq.read_table(workdir / "out.parquet").to_pylist() == [
        {"id": 1, "name": "a", "amount": 10}, {"id": 2, "name": "b", "amount": 20},
        {"id": 3, "name": "c", "amount": 30}]


def test_a_line_over_the_readers_limit_is_named_with_its_size(workdir: Path) -> None:
    (workdir / "in.csv").write_text("id,txt\n1,a\n2," + "x" * 2_500_000 + "\n3,c\n")
    result = run_doc(csv_doc(path="in.csv"))
    assert result.status == "failed"
    assert result.error is not None and result.error.node_id == "src"
    assert "in.csv: a line is 2,500,003 bytes long" in result.error.reason
    assert "'2,xxx" in result.error.reason


def test_a_quote_never_closed_is_named_where_it_opens(workdir: Path) -> None:
    """The rows past such a quote are one field: no on_error setting can help, and the
    message says so, with the line the quote opens on (not the broken row before it)."""
    (workdir / "in.csv").write_text('id,name,amount\n1,a,10\n2,b,20,EXTRA\n4,"open,5\n5,e,50\n')
    result = run_doc(csv_doc(path="in.csv", on_error="skip"))
    assert result.status == "failed" and result.error is not None
    assert "in.csv line 4 opens a quote (\") that is never closed" in result.error.reason
    assert "no on_error setting" in result.error.reason
    result = run_doc(csv_doc(path="in.csv"))
    assert result.error is not None and "in.csv line 3 has 4 field(s)" in result.error.reason


@pytest.mark.parametrize("engine", ENGINES)
def test_a_typed_column_missing_from_the_file_is_named_with_a_suggestion(
        workdir: Path, engine: str) -> None:
    (workdir / "in.csv").write_text("id;day\n1;2024-01-02\n")
    doc = csv_doc(path="in.csv", columns={"dayy": "date"})
    result = run_doc(doc, engine=engine)
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "src" and result.error.field == "columns"
    assert "no column 'dayy'. Did you mean 'day'?" in result.error.reason


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_files_are_left_out_and_an_empty_source_is_an_error(
        workdir: Path, engine: str) -> None:
    (workdir / "in").mkdir()
    (workdir / "in" / "a.csv").write_text("id,name\n1,x\n")
    (workdir / "in" / "b.csv").write_text("")
    result = run_doc(csv_doc(path="in/*.csv"), engine=engine)
    assert result.status == "succeeded", result.error
    assert pq.read_table(workdir / "out.parquet").to_pylist() == [{"id": 1, "name": "x"}]
    (workdir / "in" / "a.csv").write_text("")
    result = run_doc(csv_doc(path="in/*.csv"), engine=engine)
    assert result.status == "failed" and result.error is not None
    assert "every file matching 'in/*.csv' is empty" in result.error.reason


@pytest.mark.parametrize("engine", ENGINES)
def test_repeated_and_missing_column_names_are_the_same_on_every_engine(
        workdir: Path, engine: str) -> None:
    (workdir / "dup.csv").write_text("id,name,name,name\n1,a,b,c\n")
    (workdir / "bare.csv").write_text("1,a\n2,b\n")
    doc = csv_doc(path="dup.csv", columns={"name_2": "string"})
    assert [n for n, _ in schemas(doc, engine=engine)["src"] or []] == [
        "id", "name", "name_1", "name_2"]
    doc = csv_doc(path="bare.csv", header=False, columns={"column1": "string"})
    assert preview(doc, "src", engine=engine).to_pylist() == [
        {"column0": 1, "column1": "a"}, {"column0": 2, "column1": "b"}]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_value_its_type_cannot_hold_fails_on_the_extractor_naming_it(
        workdir: Path, engine: str) -> None:
    (workdir / "in.csv").write_text("id,amount\n1,12.5\n2,abc\n")
    result = run_doc(csv_doc(path="in.csv", columns={"amount": "decimal(12,2)"}), engine=engine)
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "src", result.error
    assert "column 'amount' cannot hold 'abc' (read as decimal" in result.error.reason
    assert "on_error" in result.error.reason
    if engine == "duckdb":
        assert "in.csv line 3: " in result.error.reason and "'2,abc'" in result.error.reason


@pytest.mark.parametrize("engine", ENGINES)
def test_a_row_with_a_field_too_many_past_the_sample_is_located(workdir: Path, engine: str) -> None:
    rows = "".join(f"{i},n{i}\n" for i in range(20_000))
    (workdir / "in.csv").write_text(f"id,name\n{rows}5,x,extra\n")
    result = run_doc(csv_doc(path="in.csv"), engine=engine)
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "src"
    assert "in.csv line 20002 has 3 field(s) where the header has 2: '5,x,extra'" in \
        result.error.reason


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cp1252_file_declared_latin1_is_named_as_cp1252(workdir: Path, engine: str) -> None:
    """DuckDB refused it without saying why, Polars read € and Œ as control characters."""
    (workdir / "in.csv").write_bytes("nom;prix\nŒuvre;12 €\n".encode("cp1252"))
    result = run_doc(csv_doc(path="in.csv", encoding="latin-1"), engine=engine)
    assert result.status == "failed" and result.error is not None
    assert result.error.field == "encoding" and "most likely cp1252" in result.error.reason
    assert run_doc(csv_doc(path="in.csv", encoding="cp1252"), engine=engine).status == "succeeded"


def test_quarantine_on_polars_is_refused_clearly(workdir: Path) -> None:
    _broken(workdir)
    result = run_doc(csv_doc(path="in.csv", on_error="quarantine"), engine="polars")
    assert result.status == "failed"
    assert result.error is not None and result.error.node_id == "src"
    assert "duckdb engine" in result.error.reason


def test_missing_file_is_a_clear_error(workdir: Path) -> None:
    result = run_doc(csv_doc(path="nope/*.csv"))
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "src" and "no file matches 'nope/*.csv'" in result.error.reason


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("encoding", "text"), [
    ("latin-1", "nom;ville\nZoé;Besançon\n"),
    ("cp1252", "nom;prix\nŒuf;5 €\n"),
    ("utf-8-sig", "nom;ville\nZoé;Besançon\n"),
])
def test_encoding_detected_when_not_set(workdir: Path, engine: str, encoding: str, text: str) -> None:
    (workdir / "in.csv").write_bytes(text.encode(encoding))
    rows = preview(csv_doc(path="in.csv"), "src", engine=engine).to_pylist()
    first_line = text.splitlines()[1].split(";")
    assert list(rows[0].values()) == first_line


MESSY = ("Nom;Ville;Montant;Code\n"
         "Élodie;Paris;12,50;0042\n"
         "René;Lyon;7,25;0043\n"
         "Broken;line;with;too;many;fields\n"
         "Zoé;Nantes;;0044\n"
         "José;Nice;1 234,75;0045\n"
         "Anaïs;Lille;1.000,5;0046\n")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("settings", [{}, {"delimiter": ";", "encoding": "latin-1", "decimal": ","}],
                         ids=["detected", "set"])
def test_a_spreadsheet_export_reads_without_any_setting(workdir: Path, engine: str,
                                                        settings: dict[str, str]) -> None:
    """Semicolons, latin-1, decimal commas, thousands grouped with a space or a dot, a broken
    row: the numbers come out as numbers with nothing but the path configured, and the same
    when the settings are given."""
    (workdir / "in.csv").write_bytes(MESSY.encode("latin-1"))
    doc = csv_doc(path="in.csv", on_error="skip", **settings)
    assert dict(schemas(doc, engine=engine)["src"] or [])["Montant"] == "float64"
    result = run_doc(doc, engine=engine)
    assert result.status == "succeeded", result.error
    rows = pq.read_table(workdir / "out.parquet").to_pylist()
    assert [r["Montant"] for r in rows] == [12.5, 7.25, None, 1234.75, 1000.5]
    assert rows[0]["Nom"] == "Élodie"


@pytest.mark.parametrize(("text", "decimal", "grouped"), [
    ("a;b\n1,5;x\n2;y\n", ",", ()),
    ("a;b\n1 234,5;x\n2;y\n", ",", ("a",)),
    ("a;b\n1.5;x\n2,5;y\n", ".", ()),          # a decimal point anywhere: not a comma file
    ("a,b\n\"1,5\",x\n", ".", ()),             # separated by commas: a comma is no decimal mark
    ("a;b\n1 234,5;x\nn/a;y\n", ",", ()),      # a column with text is not converted
    ("a;b\nx;y\n", ".", ()),
])
def test_number_style_is_guessed_from_the_sample(tmp_path: Path, text: str, decimal: str,
                                                 grouped: tuple[str, ...]) -> None:
    path = tmp_path / "in.csv"
    path.write_text(text)
    delimiter = sniff_delimiter(str(path))
    assert sniff_numbers(str(path), "utf-8", delimiter) == NumberStyle(decimal, grouped)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "grouped"), [
    ("a;b\n1.234;x\n12;y\n", ("a",)),          # the user said comma: 1.234 is 1234
    ("a;b\n1 234 567;x\n-1.000,5;y\n", ("a",)),
    ("a;b\n1.5;x\n1.234;y\n", ()),              # 1.5 is no number of a decimal-comma file
    ("a;b\n10.0.0.1;x\n", ()),
])
def test_a_decimal_comma_given_by_the_user_still_finds_grouped_columns(
        tmp_path: Path, text: str, grouped: tuple[str, ...]) -> None:
    path = tmp_path / "in.csv"
    path.write_text(text)
    assert sniff_numbers(str(path), "utf-8", ";", decimal=",") == NumberStyle(",", grouped)


def test_a_line_ending_with_a_separator_counts_in_the_sample(tmp_path: Path) -> None:
    """DuckDB reads ``1;oops;`` under a two-column header as a full row: its text keeps the
    column from being converted to numbers."""
    path = tmp_path / "in.csv"
    path.write_text("a;b\n1 234,5;x\noops;y;\n")
    assert sniff_numbers(str(path), "utf-8", ";") == NumberStyle(",", ())


@pytest.mark.parametrize("engine", ENGINES)
def test_a_value_past_the_sample_that_is_no_number_fails_on_the_extractor(
        workdir: Path, engine: str) -> None:
    """The sample decides that a column holds grouped numbers; a later value that is not one
    fails the run on the extractor, naming the column and the value."""
    lines = [f"{i};1.{i:03d},25" for i in range(1, 400)]
    (workdir / "in.csv").write_text("id;amount\n" + "\n".join([*lines, "400;10.0.0.1"]) + "\n")
    result = run_doc(csv_doc(path="in.csv"), engine=engine)
    assert result.status == "failed"
    assert result.error is not None and result.error.node_id == "src"
    assert result.error.field == "columns"
    assert "'amount'" in result.error.reason and "'10.0.0.1' is not a number" in result.error.reason
    assert result.error.sample_rows == [{"amount": "10.0.0.1", "id": 400}]
    assert not (workdir / "out.parquet").exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_dates_and_timestamps_are_typed_alike_on_every_engine(workdir: Path, engine: str) -> None:
    (workdir / "in.csv").write_text(
        "day,at,at_ms,label\n"
        "2024-01-15,2024-01-15T10:00:00,2024-01-15 10:00:00.250,2024-01-15 is a monday\n"
        "2024-02-29,2024-02-29T23:59:59,2024-02-29 23:59:59,leap\n")
    doc = csv_doc(path="in.csv")
    cols = dict(schemas(doc, engine=engine)["src"] or [])
    assert cols == {"day": "date", "at": "timestamp", "at_ms": "timestamp", "label": "string"}
    rows = preview(doc, "src", engine=engine).to_pylist()
    assert [r["at_ms"].isoformat() for r in rows] == ["2024-01-15T10:00:00.250000",
                                                     "2024-02-29T23:59:59"]
    assert rows[1]["day"].isoformat() == "2024-02-29" and rows[0]["label"] == "2024-01-15 is a monday"


def test_polars_names_the_column_when_a_late_row_breaks_the_sampled_format(workdir: Path) -> None:
    rows = "".join(f"{i},2024-01-15T10:00:00\n" for i in range(12_000))
    (workdir / "in.csv").write_text(f"id,at\n{rows}12000,15/01/2024 10h\n")
    result = run_doc(csv_doc(path="in.csv"), engine="polars")
    assert result.status == "failed" and result.error is not None
    assert "at" in result.error.reason and "15/01/2024 10h" in result.error.reason


def test_trim_removes_spaces_only_on_every_engine(workdir: Path) -> None:
    (workdir / "in.csv").write_text('name\n"  a b  "\n"\ttab\t"\n"\u3000wide \u00a0"\n" "\n')
    doc = chain(node("src", "extractor", "csv", path="in.csv"),
                node("clean", "transformer", "cleaner", trim=True),
                node("out", "loader", "parquet", path="out.parquet"))
    outputs = {e: preview(doc, "clean", engine=e).column("name").to_pylist() for e in ENGINES}
    assert outputs["polars"] == outputs["duckdb"] == ["a b", "\ttab\t", "\u3000wide \u00a0", ""]


def test_polars_other_date_formats_still_inferred(workdir: Path) -> None:
    (workdir / "in.csv").write_text("slash,dotted,zoned\n2024/01/15,15.01.2024,2024-01-15T10:00:00+01:00\n")
    cols = dict(schemas(csv_doc(path="in.csv"), engine="polars")["src"] or [])
    assert cols["slash"] == cols["dotted"] == "date"
    assert cols["zoned"].startswith("timestamp")
