"""Pipelines: CRUD, immutable versions, optimistic concurrency, validation, design time."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.server.conftest import Api, csv_pipeline


def test_create_get_list_delete(api: Api, tmp_path: Path) -> None:
    created = api.create_pipeline(csv_pipeline(tmp_path))
    pid = created["id"]
    assert created["version"] == 1 and created["valid"] and created["problems"] == []
    assert created["document"]["id"] == pid
    got = api.get(f"/api/v1/pipelines/{pid}")
    assert got.status_code == 200 and got.headers["etag"] == '"1"'
    api.create_pipeline(csv_pipeline(tmp_path, name="another"))
    page = api.get("/api/v1/pipelines?sort=name&limit=1").json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["name"] == "another"
    assert api.get("/api/v1/pipelines?q=ord").json()["total"] == 1
    assert api.request("DELETE", f"/api/v1/pipelines/{pid}").status_code == 204
    assert api.get(f"/api/v1/pipelines/{pid}").status_code == 404
    assert api.get("/api/v1/pipelines").json()["total"] == 1


def test_versions_are_immutable_and_saves_are_optimistic(api: Api, tmp_path: Path) -> None:
    doc = csv_pipeline(tmp_path)
    pid = api.create_pipeline(doc)["id"]
    doc2 = {**doc, "description": "first edit"}
    r = api.put(f"/api/v1/pipelines/{pid}", json=doc2, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2
    # a save based on version 1 (stale) is refused, with what changed meanwhile
    doc3 = {**doc, "description": "concurrent edit"}
    r = api.put(f"/api/v1/pipelines/{pid}?base_version=1", json=doc3, role="developer")
    assert r.status_code == 409
    body = r.json()
    assert body["current_version"] == 2 and body["base_version"] == 1
    assert body["changed_by"] == ["admin"]
    assert {"op": "add", "path": "/description", "new": "first edit"} in body["changes"]
    assert r.headers["content-type"].startswith("application/problem+json")
    # no base version at all: refused too (never last-save-wins)
    assert api.put(f"/api/v1/pipelines/{pid}", json=doc3).status_code == 428
    versions = api.get(f"/api/v1/pipelines/{pid}/versions").json()
    assert [v["version"] for v in versions["items"]] == [2, 1] and versions["total"] == 2
    v1 = api.get(f"/api/v1/pipelines/{pid}/versions/1").json()
    assert "description" not in v1["document"]
    diff = api.get(f"/api/v1/pipelines/{pid}/diff?from=1&to=2").json()
    assert diff["changes"] == [{"op": "add", "path": "/description", "old": None,
                                "new": "first edit"}]
    restored = api.post(f"/api/v1/pipelines/{pid}/versions/1/restore").json()
    assert restored["version"] == 3 and "description" not in restored["document"]


def test_invalid_documents(api: Api, tmp_path: Path) -> None:
    bad = csv_pipeline(tmp_path)
    bad["nodes"][0]["module"] = "cvs"
    created = api.create_pipeline(bad)
    assert not created["valid"]
    assert created["problems"][0]["pointer"] == "/nodes/0/module"
    assert "csv" in created["problems"][0]["message"]
    r = api.post("/api/v1/pipelines/validate", json=bad).json()
    assert not r["valid"] and r["problems"][0]["pointer"] == "/nodes/0/module"
    r = api.get(f"/api/v1/pipelines/{created['id']}/validate").json()
    assert not r["valid"]
    # running an invalid pipeline is refused before anything is queued
    r = api.post(f"/api/v1/pipelines/{created['id']}/runs", json={"parameters": {}})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/nodes/0/module"
    # structure errors are 422 with pointers
    r = api.post("/api/v1/pipelines", json={"name": "x", "nodes": [{"id": "a", "type": "nope"}]})
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert "/nodes/0/type" in pointers and "/nodes/0/module" in pointers


def test_schema_and_preview(api: Api, tmp_path: Path) -> None:
    pid = api.create_pipeline(csv_pipeline(tmp_path, rows=20))["id"]
    schema = api.get(f"/api/v1/pipelines/{pid}/schema").json()["nodes"]
    assert schema["src"]["columns"] == [{"name": "id", "type": "int64"},
                                        {"name": "amount", "type": "float64"}]
    page = api.get(f"/api/v1/pipelines/{pid}/nodes/src/preview?limit=5&offset=10").json()
    assert [c["name"] for c in page["columns"]] == ["id", "amount"]
    assert page["rows"] == [[i, i * 1.5] for i in range(10, 15)]
    assert api.get(f"/api/v1/pipelines/{pid}/nodes/nope/preview").status_code == 404


def test_demo_pipeline_loads(make_api: object, tmp_path: Path) -> None:
    api = make_api(load_demo=True)  # type: ignore[operator]
    names = [p["name"] for p in api.get("/api/v1/pipelines").json()["items"]]
    assert json.loads(Path("examples/demo/orders_pipeline.json").read_text())["name"] in names
    sched = api.get("/api/v1/pipelines").json()["items"][0]
    s = api.get(f"/api/v1/pipelines/{sched['id']}/schedule").json()
    assert s["cron"] == "0 2 * * *" and s["timezone"] == "Europe/Paris" and s["catch_up"] == "skip"
    r = api.request("PATCH", f"/api/v1/pipelines/{sched['id']}/schedule",
                    json={"enabled": False, "catch_up": "all"})
    assert r.status_code == 200 and r.json()["enabled"] is False


def test_modules_catalog(api: Api) -> None:
    mods = api.get("/api/v1/modules", role="viewer").json()
    csv = next(m for m in mods if m["module"] == "csv" and m["type"] == "extractor")
    assert csv["config_schema"]["type"] == "object" and "path" in csv["config_schema"]["properties"]
    assert {"type", "module", "title", "description", "category", "icon", "version", "engines",
            "inputs", "outputs", "config_schema", "examples"} <= set(csv)


def test_concurrent_saves_on_one_base_exactly_one_wins(api: Api, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    doc = csv_pipeline(tmp_path)
    pid = api.create_pipeline(doc)["id"]
    headers = api.headers()

    def save(i: int) -> int:
        r = api.client.put(f"/api/v1/pipelines/{pid}?base_version=1",
                           json={**doc, "description": f"edit {i}"}, headers=headers)
        return int(r.status_code)

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(save, range(6)))
    assert codes == [200, 409, 409, 409, 409, 409]
    assert api.get(f"/api/v1/pipelines/{pid}").json()["version"] == 2


def test_draft_schema_and_preview_of_an_unsaved_document(api: Api, tmp_path: Path) -> None:
    doc = csv_pipeline(tmp_path, name="draft")
    doc["nodes"].insert(1, {"id": "agg", "type": "transformer", "module": "aggregate",
                            "config": {"group_by": ["id"]}})  # being edited: no aggregations yet
    doc["edges"] = [{"source": "src", "target": "agg"}, {"source": "agg", "target": "out"}]
    r = api.post("/api/v1/pipelines/schema", role="viewer", json=doc)
    assert r.status_code == 200, r.text
    nodes = r.json()["nodes"]
    assert [c["name"] for c in nodes["src"]["columns"]] == ["id", "amount"]
    assert nodes["agg"]["columns"] is None and "aggregations" in nodes["agg"]["error"]["message"]
    assert nodes["out"]["columns"] is None and "'agg'" in nodes["out"]["error"]["message"]
    r = api.post("/api/v1/pipelines/preview", role="viewer", json=doc,
                 params={"node_id": "src", "limit": 2})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [[0, 0.0], [1, 1.5]]
    r = api.post("/api/v1/pipelines/preview", role="viewer", json=doc, params={"node_id": "out"})
    assert r.status_code == 422 and "'agg'" in r.text


def test_incremental_state_through_the_api(api: Api, tmp_path: Path) -> None:
    created = api.create_pipeline(csv_pipeline(tmp_path, name="stateful"))
    pid = created["id"]
    assert api.get(f"/api/v1/pipelines/{pid}/state", role="viewer").json() == {}
    r = api.put(f"/api/v1/pipelines/{pid}/state/src", role="developer",
                json={"last_value": "2024-01-01", "key": 7})
    assert r.status_code == 200, r.text
    assert api.get(f"/api/v1/pipelines/{pid}/state").json() == {
        "src": {"last_value": "2024-01-01", "key": 7}}
    assert api.put(f"/api/v1/pipelines/{pid}/state/nope", json={}).status_code == 404
    assert api.request("DELETE", f"/api/v1/pipelines/{pid}/state/src", "developer").status_code == 204
    assert api.get(f"/api/v1/pipelines/{pid}/state").json() == {}
    events = api.get("/api/v1/audit?action=state.set").json()
    assert events["total"] == 1


def test_explain_shows_pushdown_and_engine_steps(api: Api, tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE orders AS SELECT range AS id, range % 3 AS shop FROM range(10)")

    def doc(source: dict[str, object]) -> dict[str, object]:
        return {"name": "elt", "parameters": {"min": {"type": "integer", "default": 0}},
                "nodes": [
                    {"id": "src", "type": "extractor", "module": "duckdb",
                     "config": {"path": str(path), **source}},
                    {"id": "agg", "type": "transformer", "module": "aggregate",
                     "config": {"group_by": ["shop"], "aggregations": [
                         {"column": "id", "function": "count", "name": "n"}]}},
                    {"id": "out", "type": "loader", "module": "duckdb",
                     "config": {"path": str(path), "table": "summary", "mode": "replace"}}],
                "edges": [{"source": "src", "target": "agg"}, {"source": "agg", "target": "out"}]}

    pid = api.create_pipeline(doc({"table": "orders"}))["id"]
    r = api.put(f"/api/v1/pipelines/{pid}", json=doc({"query": "SELECT * FROM orders WHERE id >= :min"}),
                headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    first = api.post(f"/api/v1/pipelines/{pid}/explain", role="viewer", json={"version": 1})
    assert first.status_code == 200, first.text
    (step,) = first.json()["steps"]
    assert first.json()["version"] == 1
    assert step["mode"] == "pushdown" and step["warehouse"].startswith("duckdb:")
    assert step["nodes"] == ["src", "agg", "out"] and "GROUP BY" in step["sql"].upper()
    # the current version binds :min, so it streams through the engine
    current = api.post(f"/api/v1/pipelines/{pid}/explain", role="viewer",
                       json={"parameters": {"min": 5}}).json()
    assert current["version"] == 2
    assert [(s["mode"], s["engine"], s["loader"]) for s in current["steps"]] == [
        ("engine", "duckdb", "out")]
    bad = api.post(f"/api/v1/pipelines/{pid}/explain", json={"parameters": {"nope": 1}})
    assert bad.status_code == 422 and "nope" in bad.text
    assert api.post(f"/api/v1/pipelines/{pid}/explain", json={"version": 9}).status_code == 404
    with duckdb.connect(str(path), read_only=True) as con:  # explain ran nothing
        assert con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_name = 'summary'").fetchone() == (0,)


def test_list_shows_the_summary_of_the_current_version(api: Api, tmp_path: Path) -> None:
    """The list reads description, schedule and tags out of the stored documents in SQL."""
    doc = {**csv_pipeline(tmp_path, name="nightly"), "description": "Orders, \"quoted\" é",
           "schedule": "0 3 * * *", "tags": ["sales", "daily"]}
    nightly = api.create_pipeline(doc)
    api.create_pipeline(csv_pipeline(tmp_path, name="plain"))
    r = api.put(f"/api/v1/pipelines/{nightly['id']}", headers={"If-Match": '"1"'},
                json={**doc, "tags": ["sales"], "description": "v2"})
    assert r.status_code == 200, r.text
    page = api.get("/api/v1/pipelines?sort=name").json()
    assert page["total"] == 2
    first, second = page["items"]
    assert {k: first[k] for k in ("name", "version", "description", "schedule", "tags",
                                  "scheduled_by", "created_by")} == {
        "name": "nightly", "version": 2, "description": "v2", "schedule": "0 3 * * *",
        "tags": ["sales"], "scheduled_by": None, "created_by": "admin"}  # ECLUSE_SCHEDULER=off
    assert (second["name"], second["description"], second["schedule"], second["tags"],
            second["version"]) == ("plain", None, None, [], 1)
    assert first["updated_at"] >= first["created_at"]
    # the total comes with the page; past the last page it is still right
    assert api.get("/api/v1/pipelines?limit=1&offset=1").json()["total"] == 2
    past = api.get("/api/v1/pipelines?offset=5").json()
    assert (past["items"], past["total"]) == ([], 2)
    assert api.get("/api/v1/pipelines?q=nothing-like-this").json() == {
        "items": [], "total": 0, "limit": 50, "offset": 0}


def test_list_shows_who_schedules(make_api: object, tmp_path: Path) -> None:
    api = make_api(scheduler="airflow")  # type: ignore[operator]
    api.create_pipeline({**csv_pipeline(tmp_path), "schedule": "0 3 * * *"})
    api.create_pipeline(csv_pipeline(tmp_path, name="unscheduled"))
    items = api.get("/api/v1/pipelines?sort=name").json()["items"]
    assert [(i["name"], i["scheduled_by"]) for i in items] == [("orders", "airflow"),
                                                               ("unscheduled", None)]
