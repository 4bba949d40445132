"""API keys: shown once, stored hashed, usable as Bearer or X-API-Key, role-checked, audited,
revocable, expiring; the CLI creates, lists and revokes them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from ecluse.cli import app as cli
from ecluse.store.models import ApiKey
from tests.integration.server.conftest import Api, csv_pipeline


def _key(api: Api, name: str, role: str, **extra: Any) -> dict[str, Any]:
    r = api.post("/api/v1/api-keys", json={"name": name, "role": role, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_key_works_as_bearer_and_header_with_its_role(api: Api, tmp_path: Path) -> None:
    created = _key(api, "airflow", "developer")
    key = created["key"]
    assert key.startswith("ecl_") and created["prefix"] == key[:10]
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        me = api.client.get("/api/v1/auth/me", headers=headers).json()
        assert me["username"] == "apikey:airflow" and me["role"] == "developer"
    h = {"X-API-Key": key}
    pipeline = api.client.post("/api/v1/pipelines", headers=h, json=csv_pipeline(tmp_path)).json()
    assert pipeline["created_by"] == "apikey:airflow"
    # a developer key may not manage users
    r = api.client.get("/api/v1/users", headers=h)
    assert r.status_code == 403 and "developer" in r.json()["detail"]
    viewer = _key(api, "reader", "viewer")["key"]
    r = api.client.post(f"/api/v1/pipelines/{pipeline['id']}/runs", json={"parameters": {}},
                        headers={"Authorization": f"Bearer {viewer}"})
    assert r.status_code == 403
    # logging out means nothing for a key
    r = api.client.post("/api/v1/auth/logout", headers=h, json={"refresh_token": "x"})
    assert r.status_code == 422 and "revoke" in r.json()["detail"]


def test_only_a_hash_is_stored_and_the_list_never_shows_keys(api: Api) -> None:
    key = _key(api, "script", "viewer")["key"]
    platform = api.app.state.platform
    with platform.db.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.name == "script"))
        assert row is not None and key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    listed = api.get("/api/v1/api-keys").json()
    assert [k["name"] for k in listed] == ["script"] and "key" not in listed[0]
    assert key not in api.get("/api/v1/audit").text
    r = api.post("/api/v1/api-keys", json={"name": "script", "role": "viewer"})
    assert r.status_code == 409


def test_revoked_expired_and_unknown_keys_are_refused(api: Api) -> None:
    created = _key(api, "temp", "admin")
    key = created["key"]
    assert api.client.get("/api/v1/pipelines", headers={"X-API-Key": key}).status_code == 200
    assert api.request("DELETE", f"/api/v1/api-keys/{created['id']}").status_code == 204
    r = api.client.get("/api/v1/pipelines", headers={"X-API-Key": key})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert [k["name"] for k in api.get("/api/v1/api-keys?include_revoked=true").json()] == ["temp"]
    assert api.get("/api/v1/api-keys").json() == []
    # the name is free again once revoked
    later = _key(api, "temp", "viewer", expires_days=1)
    assert later["expires_at"] is not None
    platform = api.app.state.platform
    with platform.db.session() as s:
        s.execute(update(ApiKey).where(ApiKey.id == later["id"])
                  .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    import ecluse.services.apikeys as apikeys

    apikeys._cache.clear()  # the 2 s cache would otherwise still trust the key
    r = api.client.get("/api/v1/pipelines", headers={"Authorization": f"Bearer {later['key']}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    r = api.client.get("/api/v1/pipelines", headers={"X-API-Key": "ecl_not-a-key"})
    assert r.status_code == 401 and "unknown API key" in r.json()["detail"]


def test_keys_are_audited_with_what_they_did(api: Api, tmp_path: Path) -> None:
    created = _key(api, "ci", "developer")
    h = {"Authorization": f"Bearer {created['key']}"}
    pipeline = api.client.post("/api/v1/pipelines", headers=h, json=csv_pipeline(tmp_path)).json()
    api.request("DELETE", f"/api/v1/api-keys/{created['id']}")
    events = api.get("/api/v1/audit?limit=500").json()["items"]
    mine = [(e["action"], e["actor"]) for e in events
            if e["target_id"] in (created["id"], pipeline["id"])]
    assert ("apikey.create", "admin") in mine and ("apikey.revoke", "admin") in mine
    assert ("pipeline.create", "apikey:ci") in mine
    used = api.get("/api/v1/api-keys?include_revoked=true").json()[0]
    assert used["last_used_at"] is not None and used["revoked_at"] is not None


@pytest.mark.parametrize("bad", [{"name": "", "role": "viewer"}, {"name": "x", "role": "root"},
                                 {"name": "a b", "role": "viewer"},
                                 {"name": "x", "role": "viewer", "expires_days": 0}])
def test_bad_key_requests_are_422(api: Api, bad: dict[str, Any]) -> None:
    r = api.post("/api/v1/api-keys", json=bad)
    assert r.status_code == 422, r.text


def test_cli_creates_lists_and_revokes(settings: dict[str, Any], api: Api,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in settings.items():
        if value is not None and not isinstance(value, list):
            monkeypatch.setenv(f"ECLUSE_{name.upper()}", str(value))
    runner = CliRunner()
    made = runner.invoke(cli, ["apikey", "create", "airflow", "--role", "developer"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("ecl_") and "shown only now" in made.stderr
    assert api.client.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()["role"] == \
        "developer"
    listed = runner.invoke(cli, ["apikey", "list"])
    assert "airflow" in listed.stdout and key not in listed.stdout
    assert runner.invoke(cli, ["apikey", "revoke", "airflow"]).exit_code == 0
    import ecluse.services.apikeys as apikeys

    apikeys._cache.clear()
    assert api.client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401
    again = runner.invoke(cli, ["apikey", "revoke", "airflow"])
    assert again.exit_code == 1 and "No API key" in again.stderr
