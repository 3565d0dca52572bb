"""The app factory: routers, middleware and error handlers, and a lifespan that loads the models once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import Depends, FastAPI

from app.dependencies import require_api_key
from app.errors import install_error_handlers
from app.metrics import Metrics
from app.middleware import AccessLogMiddleware, BodySizeLimitMiddleware
from app.routes import generation, model_info, operations, page, uploads
from app.service import ModelService
from app.settings import Settings

logger = logging.getLogger("cvae.app")

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


def load_ready_service(settings: Settings) -> ModelService:
    service = ModelService.load(settings)
    service.warm_up()
    return service


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load and warm up the models (off the event loop), then report ready; not ready again on shutdown."""
    app.state.service = await to_thread.run_sync(load_ready_service, app.state.settings)
    logger.info("ready on %s", app.state.service.device)
    yield
    app.state.service = None


def create_app(settings: Settings) -> FastAPI:
    """The service for `settings`; the models load when the app starts (its lifespan), not here."""
    configure_logging(settings.log_level)
    app = FastAPI(title="cvae-digits", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.service = None
    install_error_handlers(app)
    app.include_router(operations.router)
    app.include_router(page.router)
    for router in (model_info.router, generation.router, uploads.router):
        app.include_router(router, dependencies=[Depends(require_api_key)])
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(AccessLogMiddleware, metrics=app.state.metrics)
    return app


def build_app() -> FastAPI:
    """The app for the settings in the environment: what `uvicorn --factory app.main:build_app` serves."""
    return create_app(Settings())
