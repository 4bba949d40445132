"""The built web UI (``web/dist``) served at ``/``: files as they are, and ``index.html`` for
every other path outside the API so that client-side routes work on reload."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse

DEFAULT_DIST = Path(__file__).resolve().parents[3] / "web" / "dist"


def mount_web(app: FastAPI, dist: Path = DEFAULT_DIST) -> None:
    root = dist.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    def web(path: str) -> FileResponse:
        if path.startswith(("api/", "metrics")):
            raise HTTPException(404, "no such route")
        index = root / "index.html"
        if not index.is_file():
            raise HTTPException(404, "the web UI is not built: run `make run` (or `npm run build` in web/)")
        candidate = (root / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(root):
            return FileResponse(candidate)
        return FileResponse(index, headers={"cache-control": "no-cache"})
