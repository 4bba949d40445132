"""GET /connections/types: the form of each connection type, with its secrets marked; and every
field the schema marks secret really is masked when the connection is read back."""

from __future__ import annotations

from typing import Any

from tests.integration.server.conftest import Api


def _set(target: dict[str, Any], dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        target = target.setdefault(p, {})
    target[leaf] = value


def test_types_list_each_json_schema_with_secrets_write_only(api: Api) -> None:
    r = api.get("/api/v1/connections/types", role="viewer")
    assert r.status_code == 200, r.text
    types = {t["type"]: t for t in r.json()}
    assert {"postgres", "mysql", "clickhouse", "mongodb", "http", "s3", "gcs", "azure_blob",
            "iceberg"} <= set(types)
    pg = types["postgres"]
    assert pg["title"] == "PostgreSQL"
    password = pg["json_schema"]["properties"]["password"]["anyOf"][0]
    assert password["writeOnly"] is True and password["format"] == "password"
    assert pg["secret_fields"] == ["password"]
    assert set(types["http"]["secret_fields"]) == {"auth.token", "auth.password", "auth.value",
                                                   "auth.client_secret"}
    assert "secret_access_key" in types["s3"]["secret_fields"]


def test_every_secret_field_is_masked_when_read_back(api: Api) -> None:
    for t in api.get("/api/v1/connections/types").json():
        body: dict[str, Any] = {"name": f"c-{t['type']}", "type": t["type"]}
        for prop, spec in t["json_schema"]["properties"].items():
            if prop in t["json_schema"].get("required", []) and spec.get("type") == "string":
                body[prop] = "mongodb://h:27017/db" if t["type"] == "mongodb" else "https://h.example"
        for i, dotted in enumerate(t["secret_fields"]):
            _set(body, dotted, f"very-secret-{i}")
        r = api.post("/api/v1/connections", json=body)
        assert r.status_code == 201, (t["type"], r.text)
        listing = api.get(f"/api/v1/connections/{r.json()['id']}").text
        assert "very-secret" not in r.text and "very-secret" not in listing, (t["type"], listing)
