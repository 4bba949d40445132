"""Authentication (login, refresh rotation and reuse, logout, rate limit) and the role matrix
walking every route."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from ecluse.services.auth import SharedLoginLimiter
from ecluse.services.errors import TooManyRequests
from tests.integration.server.conftest import ADMIN, PASSWORD, Api, csv_pipeline

ROLES = ("viewer", "developer", "admin")
LEVEL = {"viewer": 1, "developer": 2, "admin": 3}

# Who may call what: written out by hand, so a route added without a decision fails the test.
EXPECTED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/login"): "public",
    ("POST", "/api/v1/auth/refresh"): "public",
    ("GET", "/api/v1/health"): "public",
    ("GET", "/api/v1/ready"): "public",
    ("POST", "/api/v1/auth/logout"): "viewer",
    ("GET", "/api/v1/auth/me"): "viewer",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("PATCH", "/api/v1/users/{user_id}"): "admin",
    ("DELETE", "/api/v1/users/{user_id}"): "admin",
    ("GET", "/api/v1/pipelines"): "viewer",
    ("POST", "/api/v1/pipelines"): "developer",
    ("POST", "/api/v1/pipelines/validate"): "viewer",
    ("POST", "/api/v1/pipelines/schema"): "viewer",
    ("GET", "/api/v1/pipelines/{pipeline_id}/state"): "viewer",
    ("PUT", "/api/v1/pipelines/{pipeline_id}/state/{node_id}"): "developer",
    ("DELETE", "/api/v1/pipelines/{pipeline_id}/state/{node_id}"): "developer",
    ("POST", "/api/v1/pipelines/preview"): "viewer",
    ("GET", "/api/v1/pipelines/{pipeline_id}"): "viewer",
    ("PUT", "/api/v1/pipelines/{pipeline_id}"): "developer",
    ("DELETE", "/api/v1/pipelines/{pipeline_id}"): "developer",
    ("GET", "/api/v1/pipelines/{pipeline_id}/validate"): "viewer",
    ("GET", "/api/v1/pipelines/{pipeline_id}/versions"): "viewer",
    ("GET", "/api/v1/pipelines/{pipeline_id}/versions/{version}"): "viewer",
    ("GET", "/api/v1/pipelines/{pipeline_id}/diff"): "viewer",
    ("POST", "/api/v1/pipelines/{pipeline_id}/versions/{version}/restore"): "developer",
    ("GET", "/api/v1/pipelines/{pipeline_id}/schema"): "viewer",
    ("GET", "/api/v1/pipelines/{pipeline_id}/nodes/{node_id}/preview"): "viewer",
    ("POST", "/api/v1/pipelines/{pipeline_id}/explain"): "viewer",
    ("POST", "/api/v1/pipelines/{pipeline_id}/runs"): "developer",
    ("GET", "/api/v1/pipelines/{pipeline_id}/schedule"): "viewer",
    ("PATCH", "/api/v1/pipelines/{pipeline_id}/schedule"): "developer",
    ("GET", "/api/v1/runs"): "viewer",
    ("GET", "/api/v1/runs/{run_id}"): "viewer",
    ("POST", "/api/v1/runs/{run_id}/cancel"): "developer",
    ("GET", "/api/v1/runs/{run_id}/logs"): "viewer",
    ("GET", "/api/v1/connections"): "viewer",
    ("POST", "/api/v1/connections"): "admin",
    ("GET", "/api/v1/connections/types"): "viewer",
    ("GET", "/api/v1/connections/{connection_id}"): "viewer",
    ("PUT", "/api/v1/connections/{connection_id}"): "admin",
    ("DELETE", "/api/v1/connections/{connection_id}"): "admin",
    ("POST", "/api/v1/connections/{connection_id}/test"): "developer",
    ("GET", "/api/v1/modules"): "viewer",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/api/v1/system"): "viewer",
    ("GET", "/api/v1/api-keys"): "admin",
    ("POST", "/api/v1/api-keys"): "admin",
    ("DELETE", "/api/v1/api-keys/{key_id}"): "admin",
    ("GET", "/api/v1/airflow/dags"): "developer",
    ("GET", "/api/v1/pipelines/{pipeline_id}/airflow-dag"): "developer",
}


def _routes(api: Api) -> list[tuple[str, str]]:
    """Every HTTP route, from the OpenAPI document (the contract clients are generated from)."""
    paths = api.client.get("/openapi.json").json()["paths"]
    return [(m.upper(), path) for path, ops in paths.items() for m in ops]


def _body(api: Api, method: str, path: str, role: str, tmp_path: Path) -> dict[str, Any]:
    if path == "/api/v1/auth/login":
        return {"json": {"username": ADMIN[0], "password": ADMIN[1]}}
    if path in ("/api/v1/auth/refresh", "/api/v1/auth/logout"):
        user = ADMIN if role == "admin" else (role, PASSWORD)
        return {"json": {"refresh_token": api.login(*user)["refresh_token"]}}
    if (method, path) in (("POST", "/api/v1/pipelines"), ("PUT", "/api/v1/pipelines/{pipeline_id}"),
                          ("POST", "/api/v1/pipelines/validate"), ("POST", "/api/v1/pipelines/schema")):
        return {"json": csv_pipeline(tmp_path, name=f"p-{role}")}
    if (method, path) == ("PUT", "/api/v1/pipelines/{pipeline_id}/state/{node_id}"):
        return {"json": {"last_value": 1}}
    if (method, path) == ("POST", "/api/v1/pipelines/preview"):
        doc = csv_pipeline(tmp_path, name=f"p-{role}")
        return {"json": doc, "params": {"node_id": doc["nodes"][0]["id"]}}
    if path == "/api/v1/users":
        return {"json": {"username": f"new-{role}", "password": "long-enough-1", "role": "viewer"}}
    if (method, path) == ("POST", "/api/v1/api-keys"):
        return {"json": {"name": f"new-{role}", "role": "viewer"}}
    if path.startswith("/api/v1/connections") and method in ("POST", "PUT"):
        return {"json": {"name": f"c-{role}", "url": "postgresql://u:pw@127.0.0.1:1/db"}}
    if path.endswith("/runs"):
        return {"json": {"parameters": {}}}
    if method in ("POST", "PUT", "PATCH"):
        return {"json": {}}
    return {}


def _credentials(api: Api, credential: str) -> dict[str, dict[str, str]]:
    """Per role, the headers of a user's access token or of an API key with that role."""
    out = {}
    for role in ROLES:
        if credential == "token":
            out[role] = api.headers(role)
            continue
        r = api.post("/api/v1/api-keys", json={"name": f"matrix-{role}", "role": role})
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        out[role] = ({"Authorization": f"Bearer {key}"} if credential == "bearer-key"
                     else {"X-API-Key": key})
    return out


@pytest.mark.parametrize("credential", ["token", "bearer-key", "x-api-key"])
def test_role_matrix_walks_every_route(api: Api, tmp_path: Path, credential: str) -> None:
    routes = _routes(api)
    assert set(routes) == set(EXPECTED), "every route needs a decision in EXPECTED"
    for role in ROLES:
        api.headers(role)  # create the users first
    headers = _credentials(api, credential)
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
        if path.endswith("/diff"):
            url += "?from=1&to=2"
        need = EXPECTED[(method, path)]
        anonymous = api.client.request(method, url, **_body(api, method, path, "admin", tmp_path))
        assert anonymous.status_code < 500
        if need == "public":
            assert anonymous.status_code not in (401, 403), (method, path)
        else:
            assert anonymous.status_code == 401, (method, path, anonymous.text)
            assert anonymous.headers["content-type"].startswith("application/problem+json")
        for role in ROLES:
            r = api.client.request(method, url, headers=headers[role],
                                   **_body(api, method, path, role, tmp_path))
            assert r.status_code < 500, (method, path, role, r.text)
            if need != "public" and LEVEL[role] < LEVEL[need]:
                assert r.status_code == 403, (method, path, role, r.status_code)
            else:
                assert r.status_code not in (401, 403), (method, path, role, r.text)


def test_refresh_rotation_and_reuse_revokes_the_family(api: Api) -> None:
    first = api.login(*ADMIN)
    r = api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    # the new access token works
    me = api.client.get("/api/v1/auth/me",
                        headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.json()["username"] == "admin"
    # replaying the first refresh token: refused, and the whole family is revoked
    r = api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401 and "already used" in r.json()["detail"]
    r = api.client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401
    # another login (another family) is untouched
    other = api.login(*ADMIN)
    r = api.client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 200
    events = api.get("/api/v1/audit?action=auth.refresh_reuse").json()
    assert events["total"] == 1


def test_logout_revokes(api: Api) -> None:
    tokens = api.login(*ADMIN)
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    r = api.client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]},
                        headers=h)
    assert r.status_code == 204
    r = api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401


def test_bad_credentials_and_rate_limit(api: Api) -> None:
    for _ in range(5):
        r = api.client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = api.client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # even the right password waits out the window
    r = api.client.post("/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 429
    r = api.client.get("/api/v1/pipelines", headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401


def test_users_admin_and_audit(api: Api) -> None:
    r = api.post("/api/v1/users", json={"username": "dev", "password": "dev-password",
                                        "role": "developer"})
    assert r.status_code == 201
    uid = r.json()["id"]
    assert api.post("/api/v1/users", json={"username": "dev", "password": "dev-password",
                                           "role": "viewer"}).status_code == 409
    dev = api.login("dev", "dev-password")
    r = api.request("PATCH", f"/api/v1/users/{uid}", json={"role": "viewer"})
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    # a role change revokes the user's refresh tokens
    assert api.client.post("/api/v1/auth/refresh",
                           json={"refresh_token": dev["refresh_token"]}).status_code == 401
    audit = api.get("/api/v1/audit?target_id=" + uid).json()["items"]
    audit = [e for e in audit if e["action"].startswith("user.")]
    assert [e["action"] for e in audit] == ["user.update", "user.create"]
    assert audit[0]["actor"] == "admin" and audit[0]["source_ip"] and audit[0]["at"]
    assert audit[0]["detail"] == {"role": "viewer"}
    assert api.request("DELETE", f"/api/v1/users/{uid}").status_code == 204


@pytest.mark.parametrize("role", ["viewer"])
def test_websocket_needs_a_token(api: Api, role: str) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as info, \
            api.client.websocket_connect("/api/v1/ws/runs") as ws:
        ws.receive_json()
    assert info.value.code == 4401
    token = api.headers(role)["Authorization"].split()[1]
    with pytest.raises(WebSocketDisconnect) as info, \
            api.client.websocket_connect("/api/v1/ws/runs/unknown?token=" + token) as ws:
        ws.receive_json()
    assert info.value.code == 4404


def test_rate_limit_is_shared_by_instances_through_redis(make_api: Any, redis_url: str) -> None:
    """Behind a load balancer, failures counted by one instance stop the next attempt on
    another."""
    first, second = make_api(redis_url=redis_url), make_api(redis_url=redis_url)
    who = f"nobody-{uuid.uuid4().hex[:8]}"
    for i in range(5):
        r = (first if i % 2 else second).client.post(
            "/api/v1/auth/login", json={"username": who, "password": "nope"})
        assert r.status_code == 401
    for instance in (first, second):
        r = instance.client.post("/api/v1/auth/login", json={"username": who, "password": "nope"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_rate_limit_counts_locally_when_redis_is_unreachable() -> None:
    limiter = SharedLoginLimiter(2, 60, "redis://127.0.0.1:1/0")
    limiter.check("10.0.0.1", "alice")
    limiter.failed("10.0.0.1", "alice")
    limiter.failed("10.0.0.1", "alice")
    with pytest.raises(TooManyRequests):
        limiter.check("10.0.0.1", "alice")
    limiter.succeeded("10.0.0.1", "alice")
    limiter.check("10.0.0.1", "alice")
