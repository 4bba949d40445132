"""What a command imports: only the modules its pipeline names, and only the SQL dialects it
uses. Checked in a fresh interpreter, where nothing else has been imported yet."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from ecluse.sdk.registry import Registry, default_registry

PROBE = textwrap.dedent("""
    import json, sys
    from ecluse.sdk.registry import default_registry
    registry = default_registry()
    csv = registry.get("extractor", "csv")
    import ibis
    con = ibis.duckdb.connect()
    prefixes = ("ecluse.modules.", "ibis.backends.sql.compilers.")
    loaded = sorted(m for m in sys.modules if m.startswith(prefixes))
    print(json.dumps({"csv": csv.__module__, "loaded": loaded,
                      "compiler": type(con.compiler).__name__}))
""")


def test_a_command_imports_only_what_it_uses() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert seen["csv"] == "ecluse.modules.extract.csv"
    assert seen["compiler"] == "DuckDBCompiler"
    files = [m for m in seen["loaded"] if m.count(".") == 3 and m.startswith("ecluse.modules.")]
    # the files named after the module (the csv extractor and the csv loader) and their helpers
    assert files == ["ecluse.modules.extract.csv", "ecluse.modules.load.csv",
                     "ecluse.modules.load.files"]
    dialects = {m.rsplit(".", 1)[1] for m in seen["loaded"] if ".compilers." in m}
    assert "duckdb" in dialects and not dialects & {"athena", "bigquery", "trino", "snowflake"}


def test_lazy_catalog_lists_and_suggests_everything() -> None:
    lazy = Registry().load_entry_points()
    assert lazy.get("transformer", "aggregate") is not None
    assert lazy.get("loader", "no_such_module") is None
    assert lazy.suggest("extractor", "cvs") == "csv"
    assert [m.name for m in lazy.all()] == [m.name for m in default_registry().all()]
    assert lazy.get("transformer", "add_constant") is not None  # the plugin, not named after its file


def test_other_ibis_dialects_still_load_on_demand() -> None:
    import ibis.backends.sql.compilers as compilers

    assert compilers.PostgresCompiler.__name__ == "PostgresCompiler"
    assert compilers.sqlite.compiler.__class__.__name__ == "SQLiteCompiler"


def test_the_command_line_does_not_load_the_server() -> None:
    """`ecluse run|schema|preview` start in a fraction of a second: the server's stack
    (SQLAlchemy, FastAPI, Celery) and pandas load only for the commands that need them."""
    probe = "import sys, ecluse.cli; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.replace("'", '"')))
    assert not loaded & {"sqlalchemy", "fastapi", "celery", "pandas", "uvicorn", "alembic"}


GC_PROBE = textwrap.dedent("""
    import gc, json, sys
    runs = []
    gc.callbacks.append(lambda phase, info: runs.append(1) if phase == "start" else None)
    entry, sys.argv = sys.argv[1], ["ecluse", *sys.argv[2:]]
    try:
        if entry == "startup":
            from ecluse import startup
            startup.main()
        else:
            from ecluse.cli import app
            app()
    except SystemExit:
        pass
    print(json.dumps({"collections": len(runs), "enabled": gc.isenabled(),
                      "frozen": gc.get_freeze_count()}), file=sys.stderr)
""")


def _gc_after(entry: str, *args: str) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", GC_PROBE, entry, *args], capture_output=True,
                         text=True, check=True)
    result: dict[str, int] = json.loads(out.stderr.splitlines()[-1])
    return result


def test_garbage_is_collected_again_once_the_command_has_loaded(tmp_path: Path) -> None:
    """The ``ecluse`` entry point keeps the collector off while the libraries load, then turns
    it on with the start-up heap frozen: for a pipeline command once it is compiled, for every
    other command at once."""
    (tmp_path / "x.csv").write_text("a\n1\n")
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"name": "p", "edges": [], "nodes": [
        {"id": "a", "type": "extractor", "module": "csv",
         "config": {"path": str(tmp_path / "x.csv")}}]}))
    for args in (["schema", str(doc)], ["modules", "--json"]):
        plain, started = _gc_after("plain", *args), _gc_after("startup", *args)
        assert started["enabled"] and started["frozen"] > 100_000, args
        assert started["collections"] < plain["collections"] / 2, (args, plain, started)
        assert plain["frozen"] == 0


def test_a_file_to_file_run_on_duckdb_never_loads_pyarrow(tmp_path: Path) -> None:
    """DuckDB scans and writes the files itself: PyArrow and NumPy (0.13 s of start-up) load
    only when rows cross into Python."""
    (tmp_path / "in.csv").write_text("a,b\n1, x \n2,y\n")
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"name": "p", "nodes": [
        {"id": "src", "type": "extractor", "module": "csv", "config": {"path": "in.csv"}},
        {"id": "clean", "type": "transformer", "module": "cleaner", "config": {"trim": True}},
        {"id": "out", "type": "loader", "module": "parquet", "config": {"path": "out.parquet"}}],
        "edges": [{"source": "src", "target": "clean"}, {"source": "clean", "target": "out"}]}))
    probe = ("import sys; from ecluse.cli import app\n"
             "try: app()\nexcept SystemExit as e: code = e.code\n"
             "print(code, 'pyarrow' in sys.modules, 'numpy' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", probe, "run", str(doc)], capture_output=True,
                         text=True, cwd=tmp_path, check=True)
    assert out.stderr.split()[-3:] == ["0", "False", "False"], out.stderr
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == [{"a": 1, "b": "x"},
                                                                   {"a": 2, "b": "y"}]
