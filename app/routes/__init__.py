"""Routers by resource: operations, the web page, the model, generation from latents, datasets, and uploads.

Every route is `async def`; the work that runs the models goes to the model threads (app/batched.py), so it
never blocks the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

V1_PREFIX = "/v1"


def v1_router(tag: str, responses: dict[int | str, dict[str, Any]] | None = None) -> APIRouter:
    """A router of the versioned API, its paths under /v1; app/main.py includes each one with the API-key
    check. (Routers nested in one /v1 router would do, but FastAPI 0.165 includes them lazily and the route
    a request reaches then names its path without the prefix, which the metrics' route label needs.)"""
    return APIRouter(prefix=V1_PREFIX, tags=[tag], responses=responses or {})
