from __future__ import annotations

from fastapi import APIRouter, Request, status

from ecluse.api.deps import Admin, Limit, Offset, PlatformDep, Reader, client_ip
from ecluse.api.schemas import (
    LoginRequest,
    Page,
    RefreshRequest,
    TokenResponse,
    UserCreate,
    UserOut,
    UserUpdate,
)
from ecluse.services import auth
from ecluse.store.models import User

router = APIRouter(tags=["auth"])


def _tokens(pair: auth.TokenPair) -> TokenResponse:
    return TokenResponse(access_token=pair.access_token, refresh_token=pair.refresh_token,
                         expires_in=pair.expires_in)


def _user(u: User) -> UserOut:
    return UserOut(id=u.id, username=u.username, role=u.role, disabled=u.disabled,
                   created_at=u.created_at)


@router.post("/auth/login", response_model=TokenResponse, summary="Log in")
def login(body: LoginRequest, request: Request, platform: PlatformDep) -> TokenResponse:
    return _tokens(auth.login(platform, request.app.state.limiter, body.username, body.password,
                              client_ip(request)))


@router.post("/auth/refresh", response_model=TokenResponse,
             summary="Trade a refresh token for new tokens (the old one stops working)")
def refresh(body: RefreshRequest, request: Request, platform: PlatformDep) -> TokenResponse:
    return _tokens(auth.refresh(platform, body.refresh_token, client_ip(request)))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, response_model=None,
             summary="Revoke the refresh token and every token of its login")
def logout(body: RefreshRequest, actor: Reader, platform: PlatformDep) -> None:
    auth.logout(platform, body.refresh_token, actor)


@router.get("/auth/me", response_model=UserOut, summary="Who am I")
def me(actor: Reader, platform: PlatformDep) -> UserOut:
    return UserOut(**auth.me(platform, actor))


@router.get("/users", response_model=Page[UserOut], tags=["users"])
def list_users(actor: Admin, platform: PlatformDep, limit: Limit = 100,
               offset: Offset = 0) -> Page[UserOut]:
    users = auth.list_users(platform)
    return Page[UserOut](items=[_user(u) for u in users[offset:offset + limit]], total=len(users),
                         limit=limit, offset=offset)


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
def create_user(body: UserCreate, actor: Admin, platform: PlatformDep) -> UserOut:
    return _user(auth.create_user(platform, actor, body.username, body.password, body.role))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
def update_user(user_id: str, body: UserUpdate, actor: Admin, platform: PlatformDep) -> UserOut:
    return _user(auth.update_user(platform, actor, user_id, role=body.role,
                                  password=body.password, disabled=body.disabled))


@router.delete("/users/{user_id}", status_code=204, response_model=None, tags=["users"])
def delete_user(user_id: str, actor: Admin, platform: PlatformDep) -> None:
    auth.delete_user(platform, actor, user_id)
