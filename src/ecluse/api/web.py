"""The built web UI (``web/dist``) served at ``/``: files as they are, and ``index.html`` for
every other path outside the API so that client-side routes work on reload."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse
from starlette.convertors import Convertor, register_url_convertor

DEFAULT_DIST = Path(__file__).resolve().parents[3] / "web" / "dist"


class _UiPath(Convertor[str]):
    """Any path but the API's and /metrics, so unknown API routes stay 404 for every method."""

    regex = r"(?!api(?:/|$)|metrics$).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ui", _UiPath())


def mount_web(app: FastAPI, dist: Path = DEFAULT_DIST) -> None:
    root = dist.resolve()

    @app.get("/{path:ui}", include_in_schema=False)
    def web(path: str) -> FileResponse:
        index = root / "index.html"
        if not index.is_file():
            raise HTTPException(404, "the web UI is not built: run `make run` (or `npm run build` in web/)")
        candidate = (root / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(root):
            return FileResponse(candidate)
        return FileResponse(index, headers={"cache-control": "no-cache"})
