"""API keys: created (the key shown once), listed and revoked by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from ecluse.api.deps import Admin, PlatformDep
from ecluse.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from ecluse.services import apikeys

router = APIRouter(prefix="/api-keys", tags=["api keys"])


@router.get("", response_model=list[ApiKeyOut], summary="List API keys (never the keys)")
def list_keys(actor: Admin, platform: PlatformDep,
              include_revoked: Annotated[bool, Query()] = False) -> list[ApiKeyOut]:
    return [ApiKeyOut(**vars(k)) for k in apikeys.list_keys(platform,
                                                              include_revoked=include_revoked)]


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED,
             summary="Create an API key; the key is in this answer only")
def create_key(body: ApiKeyCreate, actor: Admin, platform: PlatformDep) -> ApiKeyCreated:
    view, key = apikeys.create(platform, actor, body.name, body.role, body.expires_days)
    return ApiKeyCreated(**vars(view), key=key)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_model=None,
               summary="Revoke an API key (kept, revoked, for the audit trail)")
def revoke_key(key_id: str, actor: Admin, platform: PlatformDep) -> None:
    apikeys.revoke(platform, actor, key_id)
