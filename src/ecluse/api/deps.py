"""Dependencies: the platform, and THE authorisation check every route goes through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ecluse.security.roles import Permission, allowed
from ecluse.services.auth import authenticate
from ecluse.services.errors import Forbidden, Unauthorized
from ecluse.services.platform import Actor, Platform

bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login, "
                    "or an API key (`ecluse apikey create`).")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key (`ecluse apikey create`), for scripts and "
                              "orchestrators.")


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authorize(permission: Permission) -> Callable[..., Actor]:
    """The one mechanism: authenticate the bearer token or API key, then check the role's
    grants."""

    def dependency(request: Request, credentials: Annotated[
            HTTPAuthorizationCredentials | None, Depends(bearer)],
                   api_key: Annotated[str | None, Depends(api_key_header)]) -> Actor:
        if credentials is not None and credentials.scheme.lower() == "bearer":
            token = credentials.credentials
        elif api_key:
            token = api_key
        else:
            raise Unauthorized("Log in first: send 'Authorization: Bearer <access token or API "
                               "key>' or 'X-API-Key: <API key>'.")
        actor = authenticate(get_platform(request), token, client_ip(request))
        if not allowed(actor.role, permission):
            raise Forbidden(f"The {actor.role} role may not do this (needs {permission.value}).")
        return actor

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


Reader = Annotated[Actor, Depends(authorize(Permission.read))]
Editor = Annotated[Actor, Depends(authorize(Permission.edit))]
Admin = Annotated[Actor, Depends(authorize(Permission.manage))]
PlatformDep = Annotated[Platform, Depends(get_platform)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]
