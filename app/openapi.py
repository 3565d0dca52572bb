"""The served schema, made to tell the truth about this server's limits.

Some limits are known only once the settings and the checkpoints are: the length of a latent vector
(latent_dim), the most images per request (CVAE_MAX_N) and per class of a dataset
(CVAE_MAX_DATASET_PER_CLASS), the largest class number, the models' names and those of the models that write
numbers (whose classes are the digits).
The request models mark those places with LIMIT_KEY; the schema that /openapi.json serves fills them in,
so a client generated from it, or a fuzzer, sends what the server accepts.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.settings import Settings
from model.checkpoint import class_names, model_name, read_config
from model.numbers import writes_numbers

LIMIT_KEY = "x-cvae-limit"


def install_schema(app: FastAPI, settings: Settings) -> None:
    """Serve the schema with the limits of `settings` and its CVAE checkpoint (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            checkpoints = [paths.checkpoint for paths in settings.served_models()]
            configs = [read_config(checkpoint) for checkpoint in checkpoints]
            latent_dims = [config["model"]["latent_dim"] for config in configs]
            names = [model_name(*pair) for pair in zip(configs, checkpoints, strict=True)]
            writers = [writes_numbers(class_names(config)) for config in configs]
            limits = {
                "latent_dim": (min(latent_dims), max(latent_dims)),
                "max_n": settings.max_n,
                "max_dataset_per_class": settings.max_dataset_per_class,
                "max_label": max(config["model"]["num_classes"] for config in configs) - 1,
                "model_names": names,
                "number_models": [name for name, writes in zip(names, writers, strict=True) if writes],
            }
            app.openapi_schema = apply_limits(schema, limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def apply_limits(node: Any, limits: dict[str, Any]) -> Any:
    """`node` with every place marked LIMIT_KEY given its limit: the length of a latent vector (exact when
    every model has the same latent_dim), a maximum (or most items) for max_n, max_label and
    max_dataset_per_class, an enum of the models' names (or of those that write numbers)."""
    if isinstance(node, list):
        return [apply_limits(item, limits) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: apply_limits(value, limits) for key, value in node.items()}
    name = node.pop(LIMIT_KEY, None)
    if name == "latent_dim":
        node["minItems"], node["maxItems"] = limits["latent_dim"]
    elif name in ("max_n", "max_label", "max_dataset_per_class"):
        node["maxItems" if node.get("type") == "array" else "maximum"] = limits[name]
    elif name in ("model_names", "number_models"):
        node["enum"] = limits[name]
    return node
