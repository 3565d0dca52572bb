"""What routes read from the app: the served models, settings and metrics; and the API key check, the one
dependency (it puts the bearer scheme in the schema)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import SecretStr

from app.batched import ServedModels
from app.metrics import Metrics
from app.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="the value of CVAE_API_KEY, when the service sets one")


# Plain functions of the request, not dependencies: FastAPI solves a dependency on every request (its
# signature, its cache key, its sub-dependencies), which cost /v1/sample n=1 a fifth of its event-loop time
# (benchmarks/serving.py).


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def metrics_of(request: Request) -> Metrics:
    return request.app.state.metrics


def models_of(request: Request) -> ServedModels:
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

    expected = key_digest(key)

    async def require_api_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if credentials is None or not key_matches(credentials.credentials, expected):
            raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})

    return require_api_key


def key_digest(key: SecretStr) -> bytes:
    """What key_matches compares a token with: computed once, when the app is made."""
    return _digest(key.get_secret_value())


def key_matches(token: str, expected: bytes) -> bool:
    return hmac.compare_digest(_digest(token), expected)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, read as HTTPBearer reads it; None without."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if authorization and scheme.lower() == "bearer" and token else None


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()
