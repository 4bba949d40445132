"""The HTTP API (FastAPI): thin routers over the services."""

from ecluse.api.app import create_app

__all__ = ["create_app"]
