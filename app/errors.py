"""Every error a client can cause becomes JSON {"detail": ...} with a 4xx; nothing else leaks a trace."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.batched import UnknownModelError
from app.batching import BatcherClosedError
from model.preprocess import (
    NoInkError,
    NotAnImageError,
    TooManyPixelsError,
    UndecodableImageError,
    UploadError,
)

logger = logging.getLogger("cvae.errors")

UPLOAD_STATUS: dict[type[UploadError], int] = {
    NotAnImageError: 415,
    UndecodableImageError: 400,
    TooManyPixelsError: 413,
    NoInkError: 400,
}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UploadError, _upload_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BatcherClosedError, _shutting_down)
    app.add_exception_handler(UnknownModelError, _unknown_model)
    app.add_exception_handler(Exception, _unexpected_error)


async def _upload_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=UPLOAD_STATUS.get(type(exc), 400))


async def _unknown_model(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _shutting_down(request: Request, exc: Exception) -> JSONResponse:
    """Work that was queued when shutdown began: refused cleanly, so a client retries on another replica."""
    return JSONResponse(
        {"detail": "the service is shutting down"}, status_code=503, headers={"Retry-After": "1"}
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, made JSON-safe: a NaN or Infinity sent by the client, an uploaded file or an exception
    in the error's context would otherwise break the rendering of the error itself."""
    return JSONResponse({"detail": _json_safe(list(exc.errors()))}, status_code=422)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    return repr(value)[:200]  # uploaded files, exceptions in "ctx"


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal server error"}, status_code=500)
