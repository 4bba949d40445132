from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ecluse.api.deps import Admin, Editor, Limit, Offset, PlatformDep, Reader
from ecluse.api.schemas import (
    ConnectionIn,
    ConnectionOut,
    ConnectionTestOut,
    ConnectionTypeOut,
    ConnectionUpdate,
    Page,
)
from ecluse.services import connections

router = APIRouter(prefix="/connections", tags=["connections"])


def _out(v: connections.ConnectionView) -> ConnectionOut:
    return ConnectionOut(**vars(v))


@router.get("", response_model=Page[ConnectionOut], summary="List connections (secrets masked)")
def list_connections(actor: Reader, platform: PlatformDep, limit: Limit = 100, offset: Offset = 0,
                     q: Annotated[str | None, Query(max_length=200)] = None,
                     type: Annotated[str | None, Query(max_length=50)] = None,
                     ) -> Page[ConnectionOut]:
    items, total = connections.list_connections(platform, q=q, type_=type, limit=limit,
                                                offset=offset)
    return Page[ConnectionOut](items=[_out(v) for v in items], total=total, limit=limit,
                               offset=offset)


@router.post("", response_model=ConnectionOut, status_code=201,
             summary="Create a connection (secrets are encrypted and never shown again)")
def create_connection(body: ConnectionIn, actor: Admin, platform: PlatformDep,
                      response: Response) -> ConnectionOut:
    out = _out(connections.create(platform, actor, body.model_dump(exclude_none=True)))
    response.headers["Location"] = f"/api/v1/connections/{out.id}"
    return out


@router.get("/types", response_model=list[ConnectionTypeOut],
            summary="Connection types and the JSON Schema of their fields (for the forms)")
def connection_types(actor: Reader) -> list[ConnectionTypeOut]:
    return [ConnectionTypeOut(**t) for t in connections.types()]


@router.get("/{connection_id}", response_model=ConnectionOut)
def get_connection(connection_id: str, actor: Reader, platform: PlatformDep) -> ConnectionOut:
    return _out(connections.get(platform, connection_id))


@router.put("/{connection_id}", response_model=ConnectionOut)
def update_connection(connection_id: str, body: ConnectionUpdate, actor: Admin,
                      platform: PlatformDep) -> ConnectionOut:
    return _out(connections.update(platform, actor, connection_id,
                                   body.model_dump(exclude_none=True)))


@router.delete("/{connection_id}", status_code=204, response_model=None)
def delete_connection(connection_id: str, actor: Admin, platform: PlatformDep) -> None:
    connections.delete(platform, actor, connection_id)


@router.post("/{connection_id}/test", response_model=ConnectionTestOut,
             summary="Can the platform reach it?")
def test_connection(connection_id: str, actor: Editor, platform: PlatformDep) -> ConnectionTestOut:
    return ConnectionTestOut(**vars(connections.test(platform, actor, connection_id)))
