"""Connections: secrets encrypted at rest (AES-256-GCM), write-only, masked on read."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ecluse.security.crypto import KEY_FILE
from tests.integration.server.conftest import Api


def _raw_rows(api: Api) -> list[tuple[str, str, str]]:
    engine = api.app.state.platform.db.engine
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT name, secret, CAST(masked AS TEXT) "
                                                       "FROM connections"))]


def test_secrets_are_masked_encrypted_and_write_only(api: Api, postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:s3cr3t-pw@")
    r = api.post("/api/v1/connections", json={"name": "prod-db", "type": "postgres", "url": url})
    assert r.status_code == 201, r.text
    conn = r.json()
    assert conn["fields"]["url"].startswith("postgresql://postgres:********@127.0.0.1")
    assert "s3cr3t-pw" not in r.text
    r = api.post("/api/v1/connections", json={"name": "api", "type": "http",
                                              "base_url": "https://api.example.com",
                                              "auth": {"type": "bearer", "token": "tok-123"}})
    assert r.json()["fields"]["auth"] == {"type": "bearer", "token": "********"}
    listing = api.get("/api/v1/connections", role="viewer")
    assert listing.json()["total"] == 2
    assert "s3cr3t-pw" not in listing.text and "tok-123" not in listing.text
    for _name, secret, masked in _raw_rows(api):
        assert "s3cr3t-pw" not in secret and "tok-123" not in secret and secret.startswith("v1:")
        assert "s3cr3t-pw" not in masked and "tok-123" not in masked
    # test connection: reaches the real PostgreSQL with the stored password
    r = api.post(f"/api/v1/connections/{conn['id']}/test", role="developer")
    assert r.status_code == 200 and r.json()["ok"], r.text
    # updating with the mask sent back keeps the secret; the engine sees the real one
    r = api.put(f"/api/v1/connections/{conn['id']}", json={"type": "postgres",
                                                           "url": conn["fields"]["url"],
                                                           "description": "main"})
    assert r.status_code == 200 and r.json()["description"] == "main"
    resolved = _resolver(api).get("prod-db")
    assert resolved is not None and "s3cr3t-pw" in resolved["url"]
    r = api.post("/api/v1/connections/api/test")
    assert r.status_code == 200 and isinstance(r.json()["ok"], bool)
    assert "tok-123" not in r.text
    audit = api.get("/api/v1/audit?action=connection.create").json()
    assert audit["total"] == 2 and "s3cr3t" not in str(audit)
    assert api.post("/api/v1/connections", json={"name": "prod-db", "url": url}).status_code == 409
    assert api.request("DELETE", f"/api/v1/connections/{conn['id']}").status_code == 204
    assert api.get(f"/api/v1/connections/{conn['id']}").status_code == 404


def _resolver(api: Api):  # type: ignore[no-untyped-def]
    from ecluse.services.connections import resolver

    return resolver(api.app.state.platform)


def test_generated_key_file_is_private(make_api: object, tmp_path: Path) -> None:
    api = make_api(secret_key=None)  # type: ignore[operator]
    key = Path(api.app.state.settings.data_dir) / KEY_FILE
    assert key.exists() and stat.S_IMODE(os.stat(key).st_mode) == 0o600
    r = api.post("/api/v1/connections", json={"name": "x", "url": "postgresql://u:pw@h/db"})
    assert r.status_code == 201
    assert _resolver(api).get("x")["url"] == "postgresql://u:pw@h/db"


def test_s3_and_http_connections_get_a_real_request(api: Api, s3_endpoint: str) -> None:
    ok = api.post("/api/v1/connections", json={
        "name": "lake", "type": "s3", "endpoint_url": s3_endpoint, "access_key_id": "key",
        "secret_access_key": "s3cr3t-value", "region": "us-east-1"}).json()
    r = api.post(f"/api/v1/connections/{ok['id']}/test", role="developer")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    down = api.post("/api/v1/connections", json={
        "name": "shop", "type": "http", "base_url": "http://127.0.0.1:9/api",
        "auth": {"type": "bearer", "token": "t0ken-secret"}}).json()
    r = api.post(f"/api/v1/connections/{down['id']}/test", role="developer").json()
    assert r["ok"] is False and "t0ken-secret" not in r["message"]


def _problems(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return {e["pointer"]: e["detail"] for e in r.json()["errors"]}


def test_fields_are_checked_against_the_type_schema_with_a_pointer_each(api: Api) -> None:
    r = api.post("/api/v1/connections", json={"name": "wh", "type": "postgres",
                                              "url": "mysql://u:pw-9@h/db", "port": "abc"})
    problems = _problems(r)
    assert set(problems) == {"/url", "/port"}
    assert "postgresql://" in problems["/url"] and "integer" in problems["/port"]
    assert "pw-9" not in r.text
    problems = _problems(api.post("/api/v1/connections", json={
        "name": "shop", "type": "http", "base_url": "ftp://files.example",
        "auth": {"type": "magic"}}))
    assert set(problems) == {"/base_url", "/auth/type"}
    assert _problems(api.post("/api/v1/connections", json={"name": "m", "type": "mongodb"})) == {
        "/url": "Required."}
    assert api.get("/api/v1/connections").json()["total"] == 0  # nothing half-saved
    # the same rules on update; the stored connection is left as it was
    ok = api.post("/api/v1/connections", json={"name": "wh", "type": "mysql",
                                               "url": "mysql://u:pw-9@127.0.0.1:3306/db"})
    assert ok.status_code == 201, ok.text
    conn = ok.json()
    r = api.put(f"/api/v1/connections/{conn['id']}", json={"type": "mysql",
                                                          "url": "postgresql://u@h/db"})
    assert "mysql://" in _problems(r)["/url"]
    r = api.put(f"/api/v1/connections/{conn['id']}", json={"type": "mysql",
                                                          "url": conn["fields"]["url"],
                                                          "port": 70000})
    assert set(_problems(r)) == {"/port"}
    assert api.get(f"/api/v1/connections/{conn['id']}").json()["fields"] == conn["fields"]
    assert _resolver(api).get("wh")["url"] == "mysql://u:pw-9@127.0.0.1:3306/db"
