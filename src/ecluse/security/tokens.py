"""JWT access tokens (short-lived) and refresh tokens (rotating, one family per login)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"


class TokenError(Exception):
    pass


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    role: str
    kind: str
    jti: str
    family: str | None
    expires_at: dt.datetime


class TokenIssuer:
    def __init__(self, key: bytes, *, access_ttl: dt.timedelta, refresh_ttl: dt.timedelta,
                 issuer: str = "ecluse") -> None:
        self._key = key
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._issuer = issuer

    def _encode(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def access(self, user_id: str, role: str) -> str:
        now = dt.datetime.now(dt.UTC)
        return self._encode({"sub": user_id, "role": role, "typ": "access", "iss": self._issuer,
                             "iat": now, "exp": now + self.access_ttl, "jti": uuid.uuid4().hex})

    def refresh(self, user_id: str, role: str, family: str, jti: str) -> tuple[str, dt.datetime]:
        now = dt.datetime.now(dt.UTC)
        exp = now + self.refresh_ttl
        return self._encode({"sub": user_id, "role": role, "typ": "refresh", "iss": self._issuer,
                             "iat": now, "exp": exp, "jti": jti, "fam": family}), exp

    def decode(self, token: str, kind: str) -> TokenClaims:
        try:
            data = jwt.decode(token, self._key, algorithms=[ALGORITHM], issuer=self._issuer,
                              options={"require": ["exp", "sub", "typ", "jti"]})
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("the token is not valid") from exc
        if data.get("typ") != kind:
            raise TokenError(f"a {kind} token is needed here")
        return TokenClaims(str(data["sub"]), str(data.get("role", "")), kind, str(data["jti"]),
                           data.get("fam"), dt.datetime.fromtimestamp(int(data["exp"]), dt.UTC))
