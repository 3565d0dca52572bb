"""What routes receive by injection: the shared model service, settings, metrics, the API key check."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from app.batched import ServedModels
from app.metrics import Metrics
from app.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="the value of CVAE_API_KEY, when the service sets one")


# Every dependency is a coroutine: a plain function would cost each request a hop to a worker thread.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_models(request: Request) -> ServedModels:
    """The loaded models; 503 until start-up has loaded and warmed them up, and again once shutting down."""
    models = request.app.state.models
    if models is None:
        raise HTTPException(503, "the model is not loaded yet", headers={"Retry-After": "5"})
    return models


def api_key_check(key: SecretStr) -> Callable[..., Awaitable[None]]:
    """The dependency that guards /v1 when CVAE_API_KEY is set: 401 unless the bearer token equals `key`.
    create_app adds it (and so the bearer scheme to the schema) only then: a schema must not ask clients
    for a key that the server ignores.

    Both sides are hashed first so that compare_digest sees equal lengths and leaks neither the key's
    content nor its length through timing.
    """
    expected = _digest(key.get_secret_value())

    async def require_api_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if credentials is None or not hmac.compare_digest(_digest(credentials.credentials), expected):
            raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})

    return require_api_key


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ModelsDep = Annotated[ServedModels, Depends(get_models)]
