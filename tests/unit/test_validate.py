"""Every kind of invalid document is reported with a pointer, the node, and a sentence."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ecluse.sdk.connections import EnvConnections, StaticConnections, parse_connection
from ecluse.sdk.registry import default_registry
from ecluse.sdk.sqltext import query_parameters
from ecluse.spec.validate import validate_document

VALID: dict[str, Any] = {
    "name": "orders",
    "nodes": [
        {"id": "src", "type": "extractor", "module": "csv", "config": {"path": "in.csv"}},
        {"id": "clean", "type": "transformer", "module": "cleaner", "config": {"trim": True}},
        {"id": "agg", "type": "transformer", "module": "aggregate",
         "config": {"group_by": ["country"], "aggregations": [{"function": "count", "name": "n"}]}},
        {"id": "out", "type": "loader", "module": "parquet", "config": {"path": "out"}},
    ],
    "edges": [{"source": "src", "target": "clean"}, {"source": "clean", "target": "agg"},
              {"source": "agg", "target": "out"}],
}


CONNECTIONS = StaticConnections({
    "warehouse": parse_connection("warehouse", "postgresql://u@h/db"),
    "minio": parse_connection("minio", {"type": "s3", "endpoint_url": "http://127.0.0.1:9000"}),
    "lake": parse_connection("lake", {"type": "iceberg", "uri": "sqlite:///c.db",
                                      "s3_connection": "mini"}),
    "pg-lake": parse_connection("pg-lake", {"type": "iceberg", "uri": "sqlite:///c.db",
                                            "s3_connection": "warehouse"}),
})


def errors(doc: Any, **kwargs: Any) -> list[Any]:
    return [p for p in validate_document(doc, default_registry(), **kwargs) if p.severity == "error"]


def mutate(fn: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    fn(doc)
    return doc


def test_valid_document_has_no_problem() -> None:
    assert validate_document(VALID, default_registry()) == []


# (case id, mutation, expected code, expected pointer, node id, words the message must hold)
CASES = [
    ("unknown module with suggestion", lambda d: d["nodes"][1].update(module="claener"),
     "unknown_module", "/nodes/1/module", "clean", ["claener", "Did you mean 'cleaner'"]),
    ("module of another kind", lambda d: d["nodes"][0].update(module="aggregate"),
     "unknown_module", "/nodes/0/module", "src", ["is a transformer, not an extractor"]),
    ("missing required setting", lambda d: d["nodes"][0]["config"].pop("path"),
     "config_invalid", "/nodes/0/config/path", "src", ["'path' is required"]),
    ("misspelt setting", lambda d: d["nodes"][0]["config"].update(delimter=";"),
     "config_invalid", "/nodes/0/config/delimter", "src", ["not a setting", "'delimiter'"]),
    ("wrong enum value", lambda d: d["nodes"][0]["config"].update(on_error="ignore"),
     "config_invalid", "/nodes/0/config/on_error", "src", ["on_error", "fail", "quarantine"]),
    ("bad type name in cast", lambda d: d["nodes"][1]["config"].update(cast={"a": "integer"}),
     "config_invalid", "/nodes/1/config/cast/a", "clean", ["unknown type 'integer'", "int64"]),
    ("nested config error", lambda d: d["nodes"][2]["config"]["aggregations"].append(
        {"function": "sum", "name": "total"}),
     "config_invalid", "/nodes/2/config/aggregations/1", "agg", ["needs a 'column'"]),
    ("duplicate node id", lambda d: d["nodes"].append(copy.deepcopy(d["nodes"][3])),
     "duplicate_node_id", "/nodes/4/id", "out", ["Two nodes have the id 'out'"]),
    ("dangling edge with suggestion", lambda d: d["edges"].append({"source": "agg", "target": "outt"}),
     "dangling_edge", "/edges/3/target", None, ["'outt'", "not a node", "Did you mean 'out'"]),
    ("two edges into one input", lambda d: d["edges"].append({"source": "agg", "target": "clean"}),
     "too_many_inputs", "/nodes/1", "clean", ["takes 1 input", "2 are connected"]),
    ("edge into an extractor", lambda d: d["edges"].append({"source": "clean", "target": "src"}),
     "extractor_has_no_input", "/edges/3/target", "src", ["take no input"]),
    ("edge out of a loader", lambda d: (d["nodes"].append(
        {"id": "out2", "type": "loader", "module": "csv", "config": {"path": "x.csv"}}),
        d["edges"].append({"source": "out", "target": "out2"})),
     "loader_has_no_output", "/edges/3/source", "out", ["has no output"]),
    ("loader without input", lambda d: d["edges"].pop(),
     "missing_input", "/nodes/3", "out", ["needs an input"]),
    ("unknown output handle", lambda d: d["edges"][0].update(source_handle="rejected"),
     "unknown_handle", "/edges/0/source_handle", "src", ["no output 'rejected'", "out"]),
    ("unknown input handle", lambda d: d["edges"][0].update(target_handle="left"),
     "unknown_handle", "/edges/0/target_handle", "clean", ["no input 'left'"]),
    ("bad cron", lambda d: d.update(schedule="every day at 2"),
     "bad_cron", "/schedule", None, ["not a valid cron", "0 2 * * *"]),
    ("bad timezone", lambda d: d.update(schedule="0 2 * * *", timezone="Paris"),
     "bad_timezone", "/timezone", None, ["'Paris'", "Europe/Paris"]),
    ("unknown top-level key", lambda d: d.update(nodez=[]),
     "structure.extra_forbidden", "/nodez", None, ["'nodez' is not a known key", "'nodes'"]),
    ("missing name", lambda d: d.pop("name"),
     "structure.missing", "/name", None, ["'name' is required"]),
    ("bad node type", lambda d: d["nodes"][0].update(type="source"),
     "structure.literal_error", "/nodes/0/type", "src", ["extractor", "transformer", "loader"]),
    ("parameter default of the wrong type", lambda d: d.update(
        parameters={"start": {"type": "date", "default": "yesterday"}}),
     "parameter_default", "/parameters/start/default", None, ["not a valid date"]),
    ("config not an object", lambda d: d["nodes"][1].update(config=["trim"]),
     "config_not_object", "/nodes/1/config", "clean", ["'config' must be an object"]),
    ("connection of another type", lambda d: d["nodes"][3].update(
        module="mysql", config={"connection": "warehouse", "table": "orders"}),
     "wrong_connection_type", "/nodes/3/config/connection", "out",
     ["the connection 'warehouse' is a postgres connection; the mysql module needs a mysql "
      "connection."]),
    ("connection naming a connection that does not exist", lambda d: d["nodes"][3].update(
        module="iceberg", config={"connection": "lake", "table": "sales.orders"}),
     "unknown_connection", "/nodes/3/config/connection", "out",
     ["the connection 'lake' names 's3_connection' 'mini', which does not exist.",
      "Did you mean 'minio'"]),
    ("connection naming a connection of another type", lambda d: d["nodes"][3].update(
        module="iceberg", config={"connection": "pg-lake", "table": "sales.orders"}),
     "wrong_connection_type", "/nodes/3/config/connection", "out",
     ["the connection 'pg-lake' names 's3_connection' 'warehouse', which is a postgres "
      "connection; it must be an s3 connection."]),
]


@pytest.mark.parametrize(("mutation", "code", "pointer", "node_id", "words"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_problem_is_reported_with_pointer_node_and_sentence(
        mutation: Any, code: str, pointer: str, node_id: str | None, words: list[str]) -> None:
    found = [p for p in errors(mutate(mutation), connections=CONNECTIONS) if p.code == code]
    assert found, f"no {code} in {errors(mutate(mutation), connections=CONNECTIONS)}"
    problem = found[0]
    assert problem.pointer == pointer
    assert problem.node_id == node_id
    for word in words:
        assert word in problem.message, problem.message


def test_real_cycle_is_named() -> None:
    doc = {"name": "loop", "nodes": [
        {"id": "a", "type": "transformer", "module": "cleaner"},
        {"id": "b", "type": "transformer", "module": "cleaner"}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}]}
    found = [p for p in errors(doc) if p.code == "cycle"]
    assert found and "loop" in found[0].message
    assert "a" in found[0].message and "b" in found[0].message


def test_every_problem_is_reported_at_once() -> None:
    def break_everything(d: dict[str, Any]) -> None:
        d["nodes"][0]["config"].pop("path")
        d["nodes"][1]["module"] = "claener"
        d["edges"].append({"source": "agg", "target": "nowhere"})
        d["schedule"] = "bad"

    codes = {p.code for p in errors(mutate(break_everything))}
    assert {"config_invalid", "unknown_module", "dangling_edge", "bad_cron"} <= codes


def test_unknown_parameter_in_a_query_and_unknown_connection() -> None:
    from ecluse.sdk import Extractor, ModuleConfig, connection_field, sql_field
    from ecluse.sdk.registry import Registry

    class QueryConfig(ModuleConfig):
        connection: str = connection_field()
        query: str = sql_field("SQL.")

    class Query(Extractor):
        name = "query_test"
        title = description = "test"
        Config = QueryConfig

        def read(self, ctx: Any) -> Any:
            raise NotImplementedError

    registry = Registry([*default_registry().all(), Query])
    doc = mutate(lambda d: d["nodes"].__setitem__(0, {
        "id": "src", "type": "extractor", "module": "query_test",
        "config": {"connection": "prod-bd", "query":
                   "SELECT * FROM t WHERE d > :start_dat AND x = ':not_a_param' AND y::int = 1"}}))
    doc["parameters"] = {"start_date": {"type": "date", "default": "2024-01-01"}}
    connections = StaticConnections({"prod-db": parse_connection("prod-db", "postgresql://u@h/db")})
    problems = [p for p in validate_document(doc, registry, connections=connections)
                if p.severity == "error"]
    by_code = {p.code: p for p in problems}
    assert set(by_code) == {"unknown_parameter", "unknown_connection"}
    assert ":start_dat" in by_code["unknown_parameter"].message
    assert "Did you mean 'start_date'" in by_code["unknown_parameter"].message
    assert by_code["unknown_parameter"].pointer == "/nodes/0/config/query"
    assert "Did you mean 'prod-db'" in by_code["unknown_connection"].message


def test_connection_types_from_the_environment_are_checked_against_the_module() -> None:
    def loader(module: str, connection: str, **config: Any) -> dict[str, Any]:
        return mutate(lambda d: d["nodes"][3].update(
            module=module, config={"connection": connection, **config}))

    environ = {"ECLUSE_CONN_LAKE": '{"type": "gcs", "project": "p"}',
               "ECLUSE_CONN_API": "https://api.example.com"}
    connections = EnvConnections(environ)
    assert errors(loader("delta", "lake", path="gs://lake/orders"), connections=connections) == []
    found = errors(loader("s3", "api", bucket="orders"), connections=connections)
    assert [(p.code, p.field, p.node_id) for p in found] == [("wrong_connection_type", "connection",
                                                              "out")]
    assert "'api' is an http connection; the s3 module needs an s3 connection." in found[0].message
    found = errors(loader("iceberg", "lake", table="sales.orders"), connections=connections)
    assert "the iceberg module needs an iceberg connection" in found[0].message
    found = errors(mutate(lambda d: d["nodes"][0].update(
        module="rest", config={"connection": "lake", "url": "/orders"})), connections=connections)
    assert "'lake' is a gcs connection; the rest module needs an http connection" in found[0].message


def test_a_connection_named_inside_a_connection_is_checked_like_the_nodes_own() -> None:
    """An iceberg connection's s3_connection was only looked up when the run opened the catalog:
    validate said nothing of a missing one or of one of another type."""
    def problems(s3_connection: str) -> list[tuple[str, str | None, str | None]]:
        environ = {"ECLUSE_CONN_LAKE": '{"type": "iceberg", "uri": "sqlite:///c.db", '
                                       f'"s3_connection": "{s3_connection}"}}',
                   "ECLUSE_CONN_MINIO": '{"type": "s3"}', "ECLUSE_CONN_API": "https://a.example",
                   "ECLUSE_CONN_BROKEN": "ftp://files.example.com"}
        doc = mutate(lambda d: d["nodes"][3].update(
            module="iceberg", config={"connection": "lake", "table": "sales.orders"}))
        return [(p.code, p.field, p.message) for p in
                errors(doc, connections=EnvConnections(environ))]

    assert problems("minio") == []
    assert problems("api") == [(
        "wrong_connection_type", "connection", "Node 'out': the connection 'lake' names "
        "'s3_connection' 'api', which is an http connection; it must be an s3 connection.")]
    [(code, field, message)] = problems("broken")
    assert (code, field) == ("invalid_connection", "connection")
    assert "unsupported URL scheme 'ftp'" in message and "ECLUSE_CONN_BROKEN" in message


def test_a_connection_variable_that_does_not_parse_is_a_problem_not_a_crash() -> None:
    connections = EnvConnections({"ECLUSE_CONN_BROKEN": "ftp://files.example.com"})
    found = errors(mutate(lambda d: d["nodes"][3].update(
        module="mysql", config={"connection": "broken", "table": "t"})), connections=connections)
    assert [(p.code, p.pointer) for p in found] == [("invalid_connection",
                                                     "/nodes/3/config/connection")]
    assert "unsupported URL scheme 'ftp'" in found[0].message
    assert "ECLUSE_CONN_BROKEN" in found[0].message


def test_engine_not_supported_by_module() -> None:
    from ecluse.modules.transform.cleaner import CleanerConfig
    from ecluse.sdk import Transformer
    from ecluse.sdk.registry import Registry

    class DuckOnly(Transformer):
        name = "duck_only"
        title = description = "test"
        Config = CleanerConfig
        engines = frozenset({"duckdb"})

        def transform(self, inputs: Any, ctx: Any) -> Any:
            return inputs.one()

    registry = Registry([*default_registry().all(), DuckOnly])
    doc = mutate(lambda d: d["nodes"][1].update(module="duck_only"))
    doc["engine"] = "polars"
    problems = [p for p in validate_document(doc, registry) if p.code == "engine_unsupported"]
    assert problems and "polars" in problems[0].message and problems[0].node_id == "clean"


def test_an_unknown_engine_is_one_problem_not_one_per_node() -> None:
    found = errors(VALID, engine="polar")
    assert [p.code for p in found] == ["unknown_engine"]
    assert "Unknown engine 'polar'" in found[0].message and "Did you mean 'polars'?" in found[0].message
    in_document = errors(mutate(lambda d: d.update(engine="duckd")))
    assert [p.pointer for p in in_document] == ["/engine"]


def test_not_an_object() -> None:
    assert errors([1, 2])[0].code == "not_an_object"


def test_unused_output_is_a_warning_not_an_error() -> None:
    doc = mutate(lambda d: d["nodes"].append(
        {"id": "extra", "type": "extractor", "module": "csv", "config": {"path": "x.csv"}}))
    problems = validate_document(doc, default_registry())
    assert [p.code for p in problems] == ["unused_output"]
    assert problems[0].severity == "warning"


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT :a, :b_2 FROM t WHERE c = :a", ["a", "b_2"]),
    ("SELECT x::int, ':quoted', \"col:x\" -- :comment\nFROM t /* :block */", []),
    ("SELECT * FROM t WHERE ts > :last_value", ["last_value"]),
])
def test_query_parameters(sql: str, expected: list[str]) -> None:
    assert query_parameters(sql) == expected


def test_a_limit_after_an_incremental_source_is_warned() -> None:
    doc = copy.deepcopy(VALID)
    doc["nodes"][0] = {"id": "src", "type": "extractor", "module": "mysql", "config": {
        "connection": "shop", "table": "orders", "incremental": {"cursor_column": "ts"}}}
    doc["nodes"][1] = {"id": "clean", "type": "transformer", "module": "limit", "config": {"n": 5}}
    connections = StaticConnections({"shop": parse_connection("shop", "mysql://u@h/db")})
    problems = validate_document(doc, default_registry(), connections=connections)
    assert [(p.code, p.severity, p.node_id) for p in problems] == [
        ("limit_after_incremental", "warning", "clean")]
    assert "incremental source 'src'" in problems[0].message
    del doc["nodes"][0]["config"]["incremental"]
    assert validate_document(doc, default_registry(), connections=connections) == []
