"""Liveness, readiness and metrics: open without the API key, for orchestrators and scrapers."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from app.dependencies import metrics_of
from app.schemas import ErrorResponse, Status

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Status, summary="Liveness: the process answers")
async def healthz() -> Status:
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: {"model": ErrorResponse, "description": "still loading"}},
    summary="Readiness: the model is loaded and warmed up",
)
async def readyz(request: Request) -> Status | JSONResponse:
    if request.app.state.models is None:
        return JSONResponse({"detail": "the model is not loaded yet"}, status_code=503)
    return Status(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    return Response(metrics_of(request).exposition(), media_type=CONTENT_TYPE_LATEST)


# Uptime monitors and load balancers probe with HEAD as often as with GET: the same answer, without its body
# (the server sends none for HEAD), and no second operation in the schema.
for path, probe in (("/healthz", healthz), ("/readyz", readyz)):
    router.add_api_route(path, probe, methods=["HEAD"], response_model=Status, include_in_schema=False)
