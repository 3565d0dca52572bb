"""The served schema, made to tell the truth about this server's limits.

Some limits are known only once the settings and the checkpoint are: the length of a latent vector
(latent_dim) and the most images per request (CVAE_MAX_N). The request models mark those places with
LIMIT_KEY; the schema that /openapi.json serves fills them in, so a client generated from it, or a fuzzer,
sends what the server accepts.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.settings import Settings
from model.checkpoint import read_config

LIMIT_KEY = "x-cvae-limit"


def install_schema(app: FastAPI, settings: Settings) -> None:
    """Serve the schema with the limits of `settings` and its CVAE checkpoint (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            limits = {
                "latent_dim": read_config(settings.checkpoint)["model"]["latent_dim"],
                "max_n": settings.max_n,
            }
            app.openapi_schema = apply_limits(schema, limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def apply_limits(node: Any, limits: dict[str, int]) -> Any:
    """`node` with every place marked LIMIT_KEY given its limit: an exact length for a latent vector, a
    maximum (or most items) for max_n."""
    if isinstance(node, list):
        return [apply_limits(item, limits) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: apply_limits(value, limits) for key, value in node.items()}
    name = node.pop(LIMIT_KEY, None)
    if name == "latent_dim":
        node["minItems"] = node["maxItems"] = limits["latent_dim"]
    elif name == "max_n":
        node["maxItems" if node.get("type") == "array" else "maximum"] = limits["max_n"]
    return node
