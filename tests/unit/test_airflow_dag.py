"""The Airflow DAG generator, without Airflow: what the file says, what it imports, and that no
pipeline value can escape its literal."""

from __future__ import annotations

import ast
import datetime as dt
from typing import Any

import pytest

from ecluse.orchestration.airflow import DagOptions, dag_id, render_dag
from ecluse.services.errors import Invalid

START = dt.datetime(2026, 3, 1, 6, 30, tzinfo=dt.UTC)
ALLOWED_IMPORTS = {"__future__", "datetime", "time", "typing", "urllib.parse", "httpx",
                   "airflow.sdk", "airflow.sdk.exceptions"}


def _doc(**extra: Any) -> dict[str, Any]:
    return {"id": "orders-daily", "name": "Orders daily", "nodes": [], "edges": [], **extra}


def _constants(text: str) -> dict[str, Any]:
    """Module-level NAME = <literal> assignments."""
    out = {}
    for node in ast.parse(text).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else (
            node.target if isinstance(node, ast.AnnAssign) else None)
        if isinstance(target, ast.Name) and node.value is not None:  # type: ignore[union-attr]
            try:
                out[target.id] = ast.literal_eval(node.value)  # type: ignore[union-attr]
            except ValueError:
                continue
    return out


def _dag_call(text: str) -> ast.Call:
    with_node = next(n for n in ast.parse(text).body if isinstance(n, ast.With))
    call = with_node.items[0].context_expr
    assert isinstance(call, ast.Call) and ast.unparse(call.func) == "DAG"
    return call


def _dag_kwargs(text: str) -> dict[str, str]:
    """The DAG(...) keyword arguments, as source text."""
    return {k.arg: ast.unparse(k.value) for k in _dag_call(text).keywords if k.arg}


def _default_args(text: str) -> dict[str, Any]:
    value = next(k.value for k in _dag_call(text).keywords if k.arg == "default_args")
    assert isinstance(value, ast.Dict)
    return {ast.literal_eval(k): ast.unparse(v) for k, v in zip(value.keys, value.values,  # type: ignore[arg-type]
                                                               strict=True)}


def test_schedule_time_zone_retries_owner_tags_and_timeout() -> None:
    dag = render_dag(_doc(schedule="30 2 * * 1-5", timezone="Europe/Paris", retries=3,
                          owner="data-team", tags=["sales", "daily"], timeout_seconds=900,
                          description="Orders of the day"), start_date=START)
    assert (dag.dag_id, dag.filename) == ("ecluse_orders-daily", "ecluse_orders-daily.py")
    kwargs = _dag_kwargs(dag.text)
    assert kwargs["dag_id"] == "'ecluse_orders-daily'"
    assert kwargs["schedule"] == "CronTriggerTimetable('30 2 * * 1-5', timezone='Europe/Paris')"
    assert kwargs["tags"] == "['ecluse', 'sales', 'daily']"
    assert kwargs["description"] == "'Orders of the day'"
    assert kwargs["catchup"] == "False" and kwargs["is_paused_upon_creation"] == "False"
    assert kwargs["start_date"] == ("datetime.datetime(2026, 3, 1, 6, 30, "
                                    "tzinfo=datetime.timezone.utc)")
    args = _default_args(dag.text)
    assert args["owner"] == "'data-team'" and args["retries"] == "3"
    assert args["execution_timeout"] == "datetime.timedelta(seconds=900)"
    consts = _constants(dag.text)
    assert consts["PIPELINE_ID"] == "orders-daily" and consts["CONN_ID"] == "ecluse_default"


def test_defaults_without_schedule_and_options() -> None:
    dag = render_dag(_doc(), start_date=START,
                     options=DagOptions(conn_id="ecluse_prod", poll_seconds=2, default_retries=1,
                                        retry_delay_seconds=30))
    kwargs = _dag_kwargs(dag.text)
    assert kwargs["schedule"] == "None" and kwargs["catchup"] == "False"
    args = _default_args(dag.text)
    assert args["owner"] == "'ecluse'" and args["retries"] == "1"
    assert args["retry_delay"] == "datetime.timedelta(seconds=30.0)"
    assert args["execution_timeout"] == "None"
    consts = _constants(dag.text)
    assert consts["CONN_ID"] == "ecluse_prod" and consts["POLL_SECONDS"] == 2.0


def test_catch_up_and_paused_follow_the_schedule_settings() -> None:
    kwargs = _dag_kwargs(render_dag(_doc(schedule="0 * * * *"), start_date=START, catch_up=True,
                                    paused=True).text)
    assert kwargs["catchup"] == "True" and kwargs["is_paused_upon_creation"] == "True"
    # catch-up means nothing without a schedule
    assert _dag_kwargs(render_dag(_doc(), start_date=START, catch_up=True).text)["catchup"] == \
        "False"


def test_parameters_become_dag_params_with_their_json_types() -> None:
    dag = render_dag(_doc(parameters={
        "start": {"type": "date", "default": "2024-01-01", "description": "first day"},
        "limit": {"type": "integer"}, "ratio": {"type": "number", "default": 0.5}}),
        start_date=START)
    assert _constants(dag.text)["PARAMETERS"] == {
        "start": {"default": "2024-01-01", "type": ["string", "null"], "format": "date",
                  "description": "first day"},
        "limit": {"default": None, "type": ["integer", "null"]},
        "ratio": {"default": 0.5, "type": ["number", "null"]}}


ODD = ['Orders """ daily', "it's '''here'''", "line\nimport os\nos.system('x')", "back\\slash\\",
       "${dag_id} $x {name}", "é🚀\x00\u2028", "# comment", "\"\"\"; raise SystemExit"]


@pytest.mark.parametrize("name", ODD)
def test_odd_names_and_tags_stay_literals(name: str) -> None:
    plain = render_dag(_doc(), start_date=START).text
    dag = render_dag(_doc(name=name, tags=[name], owner=name, description=name,
                          parameters={name: {"type": "string", "default": name}}),
                     start_date=START)
    compile(dag.text, dag.filename, "exec")
    # the same statements as a plain file: nothing was injected
    assert [type(n) for n in ast.parse(dag.text).body] == [type(n) for n in ast.parse(plain).body]
    consts = _constants(dag.text)
    assert consts["PIPELINE_NAME"] == name
    assert consts["PARAMETERS"][name]["default"] == name
    assert ast.literal_eval(_dag_kwargs(dag.text)["tags"]) == ["ecluse", name]
    assert ast.literal_eval(_default_args(dag.text)["owner"]) == name


def test_odd_pipeline_ids_make_valid_dag_ids() -> None:
    assert dag_id("a b/c:d") == "ecluse_a_b_c_d"
    assert dag_id("3f1c-uuid.v2_x") == "ecluse_3f1c-uuid.v2_x"


def test_self_contained_and_no_secret() -> None:
    dag = render_dag(_doc(schedule="0 2 * * *"), start_date=START)
    imported = set()
    for node in ast.walk(ast.parse(dag.text)):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    assert "ecluse." not in "".join(i for i in imported)
    # the only credential path is the Airflow connection
    assert "Connection.get(self.conn_id)" in dag.text
    for word in ("ecl_", "Bearer ", "token="):
        assert word not in dag.text


@pytest.mark.parametrize("conn_id", ["", "has space", "a;b", "x" * 251])
def test_bad_connection_ids_are_refused(conn_id: str) -> None:
    with pytest.raises(Invalid, match="Airflow connection id"):
        render_dag(_doc(), start_date=START, options=DagOptions(conn_id=conn_id))
