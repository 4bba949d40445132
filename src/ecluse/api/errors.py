"""Every error is an RFC 9457 problem (``application/problem+json``) with field pointers;
nothing a client sends can produce a 500."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecluse.observability.logging import get_logger
from ecluse.services.errors import ServiceError
from ecluse.spec.problems import pointer

PROBLEM = "application/problem+json"
log = get_logger("ecluse.api")

_TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Request too large",
           415: "Unsupported media type", 422: "Invalid input", 428: "Precondition required",
           429: "Too many requests", 500: "Internal error", 503: "Unavailable"}


def problem(status: int, detail: str, *, request: Request | None = None,
            errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": _TITLES.get(status, "Error"),
                            "status": status, "detail": detail, "errors": errors or []}
    if request is not None:
        body["instance"] = request.url.path
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc_pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body":
        return pointer(*parts[1:])
    if parts and parts[0] in ("query", "path", "header", "cookie"):
        return "#/" + "/".join(str(p) for p in parts)
    return pointer(*parts)


def validation_errors(errors: Any) -> tuple[int, str, list[dict[str, Any]]]:
    out = []
    status = 422
    for err in errors:
        kind = err.get("type", "")
        if kind == "json_invalid":
            status = 400
            ctx = err.get("ctx") or {}
            out.append({"pointer": "", "detail": f"The body is not valid JSON: "
                        f"{ctx.get('error', 'syntax error')}.", "code": kind})
            continue
        message = str(err.get("msg", "invalid"))
        if kind == "missing" and err.get("loc") == ("body",):
            message = "A JSON body is required."
        out.append({"pointer": _loc_pointer(err.get("loc", ())), "detail": message, "code": kind})
    if status == 400:
        return 400, out[0]["detail"], out
    summary = "; ".join(f"{e['pointer'] or 'body'}: {e['detail']}" for e in out[:5])
    return 422, f"The request is not valid: {summary}", out


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if "retry_after" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after"])
        return problem(exc.status, exc.detail, request=request, errors=exc.errors,
                       headers=headers or None, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail, errors = validation_errors(exc.errors())
        return problem(status, detail, request=request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route {request.method} {request.url.path}."
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
        return problem(exc.status_code, detail, request=request,
                       headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # e.g. a NUL character, which PostgreSQL text cannot hold
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        return problem(400, f"A value in the request cannot be stored: {reason}.",
                       request=request)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # two requests raced (same name, same new version): the loser is told, nothing is lost
        return problem(409, "This change collided with another one made at the same moment; "
                       "reload and try again.", request=request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", path=request.url.path, error=repr(exc), exc_info=exc)
        return problem(500, "Something went wrong on the server; the error was logged.",
                       request=request)
