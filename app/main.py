"""The app factory: routers, middleware and error handlers, and a lifespan that loads the models once."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline

from app.batched import ServedModels
from app.dependencies import api_key_check, key_digest
from app.errors import install_error_handlers
from app.fast_sample import FastSample, sample_route
from app.metrics import Metrics
from app.middleware import AccessLogMiddleware, BodyLimitMiddleware, UnknownQueryMiddleware, query_parameters
from app.openapi import install_schema
from app.routes import dataset, generation, model_info, numbers, operations, page, reading, uploads
from app.schemas import ErrorResponse
from app.service import ModelService
from app.settings import Settings

logger = logging.getLogger("cvae.app")
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

DESCRIPTION = """A conditional VAE for handwritten digits: sample a digit, or upload one to see how the model
reads it. Images are 28x28 8-bit grayscale PNGs (base64 in JSON), white digit on black, as in MNIST."""


def configure_logging(level: str) -> None:
    """The service's loggers (cvae.*) at `level`, with a handler of their own when nothing else set one up."""
    logger = logging.getLogger("cvae")
    logger.setLevel(level.upper())
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load and warm up the models (off the event loop), then report ready; on shutdown, not ready again,
    and the work already batched finishes while queued work is refused (503)."""
    models = await ServedModels.start(app.state.settings, app.state.preloaded)
    app.state.preloaded = None
    for model in models:
        for batcher in model.batchers:
            batcher.add_observer(app.state.metrics.batch_observer(model.name, batcher.name))
    app.state.models = models
    # Everything alive now (modules, the models, the app) lives as long as the process: move it out of the
    # collector's generations, so that a full collection under load walks only what requests left behind.
    gc.freeze()
    logger.info("ready: %s on %s", ", ".join(models.by_name), models.default.service.device)
    try:
        yield
    finally:
        app.state.models = None
        await models.close()


def create_app(settings: Settings, preloaded: list[ModelService] | None = None) -> FastAPI:
    """The service for `settings`; the models load when the app starts (its lifespan), not here, unless
    they are given already loaded (cvae-serve loads them first, to stop with one line if they are broken)."""
    configure_logging(settings.log_level)
    # FastAPIOffline: /docs with Swagger UI's files served by this app, not a CDN, so the API's documentation
    # renders on a machine without internet, as the page does. No /redoc: ReDoc's page fetches its maker's
    # logo from their CDN all the same.
    # No OpenTelemetry: the service's metrics are Prometheus' (/metrics), and FastAPI's native telemetry
    # asks its providers on every request whether any is configured (25 us a request, benchmarks/serving.py).
    app = FastAPIOffline(
        title="cvae-digits",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        redoc_url=None,
        telemetry=NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.models = None
    app.state.preloaded = preloaded
    install_error_handlers(app)
    install_schema(app, settings)
    app.include_router(operations.router)
    app.include_router(page.router)
    guard: dict[str, Any] = {}
    if settings.api_key is not None:
        guard = {
            "dependencies": [Depends(api_key_check(settings.api_key))],
            "responses": {401: {"model": ErrorResponse, "description": "missing or wrong API key"}},
        }
    routers = (model_info, generation, numbers, dataset, uploads, reading)
    for module in routers:
        app.include_router(module.router, **guard)
    key = None if settings.api_key is None else key_digest(settings.api_key)
    app.add_middleware(FastSample, state=app.state, route=sample_route(generation.router.routes), key=key)
    # Outside the fast /v1/sample path, which would otherwise answer a request whatever its query string.
    routes = [route for module in routers for route in module.router.routes]
    app.add_middleware(UnknownQueryMiddleware, known=query_parameters(routes))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_upload_bytes,
        max_json_bytes=settings.max_json_bytes,
        timeout_s=settings.body_timeout_s,
    )
    app.add_middleware(AccessLogMiddleware, metrics=app.state.metrics)
    return app


def build_app() -> FastAPI:
    """The app for the settings in the environment: what `uvicorn --factory app.main:build_app` serves."""
    return create_app(Settings())
