"""What a use-case can refuse; the API turns each into an RFC 9457 problem."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400
    title = "Bad request"
    type = "about:blank"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


class Invalid(ServiceError):
    status = 422
    title = "Invalid input"


class Unauthorized(ServiceError):
    status = 401
    title = "Not authenticated"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class PreconditionRequired(ServiceError):
    status = 428
    title = "Precondition required"


class TooManyRequests(ServiceError):
    status = 429
    title = "Too many requests"
