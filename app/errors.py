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
    in the error's context would otherwise break the rendering of the error itself. A JSON body sent without
    its Content-Type is read as bytes, not parsed: the answer says what to send instead of echoing them."""
    errors = [_unparsed_body(request, error) for error in exc.errors()]
    return JSONResponse({"detail": _json_safe(errors)}, status_code=422)


# What pydantic says of a body that is not an object; for a body FastAPI did not parse as JSON, the bytes.
_NOT_AN_OBJECT = ("model_attributes_type", "dict_type")


def _unparsed_body(request: Request, error: dict[str, Any]) -> dict[str, Any]:
    """The error, or for a body that reached validation as raw bytes (no JSON Content-Type), what to send."""
    content_type = request.headers.get("content-type")
    is_json = content_type is not None and "json" in content_type.split(";")[0].lower()
    if is_json or tuple(error.get("loc", ())) != ("body",) or error.get("type") not in _NOT_AN_OBJECT:
        return error
    got = f"Content-Type {content_type[:100]}" if content_type else "no Content-Type"
    return {
        "type": "content_type",
        "loc": ["body"],
        "msg": f"send the body as JSON with the header Content-Type: application/json (got {got})",
    }


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
