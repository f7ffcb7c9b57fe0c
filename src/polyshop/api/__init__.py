"""The HTTP API (FastAPI): `create_app` builds it; `polyshop serve` runs it under uvicorn."""

from polyshop.api._app import app_from_environment, create_app

__all__ = ["app_from_environment", "create_app"]
