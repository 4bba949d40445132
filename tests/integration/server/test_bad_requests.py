"""Bad input gets a clear 4xx problem, never a 500, and changes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.integration.server.conftest import Api, csv_pipeline


def _problem(r: object, status: int) -> dict[str, object]:
    assert r.status_code == status, (r.status_code, r.text)  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_malformed_json(api: Api) -> None:
    h = {**api.headers(), "Content-Type": "application/json"}
    for payload in (b"{", b'{"name": ', b"\xff\xfe", b"null", b"[]", b'"text"', b""):
        r = api.client.post("/api/v1/pipelines", content=payload, headers=h)
        assert 400 <= r.status_code < 500, (payload, r.status_code, r.text)
    body = _problem(api.client.post("/api/v1/pipelines", content=b"{", headers=h), 400)
    assert "not valid JSON" in str(body["detail"])
    r = api.client.post("/api/v1/auth/login", content=b"{oops", headers={"Content-Type":
                                                                       "application/json"})
    _problem(r, 400)
    assert api.get("/api/v1/pipelines").json()["total"] == 0


def test_wrong_types_have_pointers(api: Api, tmp_path: Path) -> None:
    doc = csv_pipeline(tmp_path)
    doc["nodes"][0]["position"] = {"x": "left"}
    doc["retries"] = "many"
    body = _problem(api.post("/api/v1/pipelines", json=doc), 422)
    pointers = {e["pointer"] for e in body["errors"]}  # type: ignore[attr-defined]
    assert {"/nodes/0/position/x", "/retries"} <= pointers
    body = _problem(api.post("/api/v1/auth/login", json={"username": 3, "password": []}), 422)
    assert {e["pointer"] for e in body["errors"]} == {"/username", "/password"}  # type: ignore[attr-defined]
    pid = api.create_pipeline(csv_pipeline(tmp_path))["id"]
    _problem(api.post(f"/api/v1/pipelines/{pid}/runs", json={"parameters": []}), 422)
    _problem(api.post(f"/api/v1/pipelines/{pid}/runs", json={"parameters": {"x": 1}}), 422)
    _problem(api.get("/api/v1/runs?limit=-1"), 422)
    _problem(api.get("/api/v1/runs?limit=abc"), 422)
    _problem(api.get("/api/v1/runs?status=exploded"), 422)
    _problem(api.get("/api/v1/pipelines?sort=password"), 422)
    _problem(api.get(f"/api/v1/pipelines/{pid}/versions/notanumber"), 422)
    _problem(api.put(f"/api/v1/pipelines/{pid}", json=csv_pipeline(tmp_path),
                     headers={"If-Match": "yesterday"}), 422)
    _problem(api.post("/api/v1/users", json={"username": "x", "password": "short",
                                             "role": "god"}), 422)
    _problem(api.post("/api/v1/connections", json={"name": "bad name!", "url": "postgresql://x"}),
             422)
    _problem(api.post("/api/v1/connections", json={"name": "c", "url": "gopher://x"}), 422)


def test_huge_bodies(api: Api) -> None:
    huge = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    r = api.client.post("/api/v1/pipelines", content=huge,
                        headers={**api.headers(), "Content-Type": "application/json"})
    _problem(r, 413)

    def chunks():  # no Content-Length: the limit still holds while streaming
        yield b'{"name": "'
        for _ in range(12):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    r = api.client.post("/api/v1/pipelines", content=chunks(),
                        headers={**api.headers(), "Content-Type": "application/json"})
    _problem(r, 413)


def test_unknown_ids_and_routes(api: Api) -> None:
    for url in ("/api/v1/pipelines/nope", "/api/v1/runs/nope", "/api/v1/connections/nope",
                "/api/v1/pipelines/nope/versions", "/api/v1/pipelines/nope/schema",
                "/api/v1/runs/nope/logs", "/api/v1/pipelines/nope/schedule", "/api/v1/nothing"):
        _problem(api.get(url), 404)
    _problem(api.post("/api/v1/runs/nope/cancel"), 404)
    _problem(api.request("DELETE", "/api/v1/pipelines/nope"), 404)
    _problem(api.request("DELETE", "/api/v1/api/v1/health"), 404)
    _problem(api.request("PATCH", "/api/v1/runs"), 405)
    _problem(api.post("/api/v1/pipelines/nope/runs", json={}), 404)
    weird = "/api/v1/pipelines/" + "%00%ff" + "x" * 5000
    assert 400 <= api.get(weird).status_code < 500
    assert 400 <= api.get("/api/v1/runs/%00").status_code < 500
    r = api.post("/api/v1/pipelines", json={"name": "nul\u0000name"})
    assert 200 <= r.status_code < 500
    _problem(api.post("/api/v1/pipelines", json={"name": "x", "id": "y" * 500}), 422)
    _problem(api.post("/api/v1/connections", json={"name": "c\u0000", "url": "postgresql://h/d"}),
             422)


def test_gzip(api: Api, tmp_path: Path) -> None:
    r = api.client.get("/api/v1/modules", headers={**api.headers(), "Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"


def test_openapi_is_complete(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ok = [c for c in op["responses"] if c.startswith("2")]
            assert ok, (method, path)
            for code in ok:
                if code == "204":
                    continue
                content = op["responses"][code]["content"]
                if "application/json" not in content:  # a file download (zip, DAG file)
                    assert set(content) <= {"application/zip", "text/x-python"}, (method, path)
                    continue
                schema = content["application/json"]["schema"]
                assert schema not in ({}, {"title": "Response"}), (method, path)
    from openapi_spec_validator import validate

    validate(spec)
