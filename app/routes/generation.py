"""Images from the prior or from given latents: /v1/sample, /v1/sample.png, /v1/decode, /v1/interpolate."""

from __future__ import annotations

import math
import secrets
from typing import Annotated

import torch
from fastapi import APIRouter, Query, Response

from app.dependencies import MetricsDep, ServiceDep, SettingsDep
from app.encoding import grid_png, png_base64
from app.schemas import (
    MAX_SEED,
    DecodeRequest,
    ErrorResponse,
    ImagesResponse,
    InterpolateRequest,
    InterpolateResponse,
    SampleRequest,
    SampleResponse,
    check_at_most,
    check_latents,
)

router = APIRouter(
    prefix="/v1",
    tags=["generation"],
    responses={422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)


def _seed_or_random(seed: int | None) -> int:
    return secrets.randbelow(MAX_SEED + 1) if seed is None else seed


@router.post("/sample", response_model=SampleResponse, summary="New images of a digit from the prior")
def sample(
    body: SampleRequest, service: ServiceDep, settings: SettingsDep, metrics: MetricsDep
) -> SampleResponse:
    check_at_most(body.n, settings.max_n, ("body", "n"))
    seed = _seed_or_random(body.seed)
    images, z = service.sample(body.digit, body.n, seed, body.temperature)
    metrics.images_generated.labels("sample").inc(body.n)
    return SampleResponse(
        digit=body.digit,
        n=body.n,
        seed=seed,
        temperature=body.temperature,
        images=png_base64(images),
        latents=z.tolist(),
    )


@router.get(
    "/sample.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "one PNG grid; the seed used in X-Seed"}},
    summary="New images of a digit as one PNG grid",
)
def sample_png(
    digit: Annotated[int, Query(ge=0, le=9, description="the digit, 0 to 9")],
    service: ServiceDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    n: Annotated[int, Query(ge=1, description="how many images, at most CVAE_MAX_N")] = 1,
    seed: Annotated[int | None, Query(ge=0, le=MAX_SEED, description="null: chosen at random")] = None,
    temperature: Annotated[float, Query(gt=0, le=3, allow_inf_nan=False)] = 1.0,
    nrow: Annotated[int | None, Query(ge=1, description="images per row; default: a square grid")] = None,
) -> Response:
    check_at_most(n, settings.max_n, ("query", "n"))
    seed = _seed_or_random(seed)
    images, _ = service.sample(digit, n, seed, temperature)
    metrics.images_generated.labels("sample.png").inc(n)
    png = grid_png(images, min(nrow or math.ceil(math.sqrt(n)), n))
    return Response(png, media_type="image/png", headers={"X-Seed": str(seed)})


@router.post("/decode", response_model=ImagesResponse, summary="Images of a digit from given latents")
def decode(
    body: DecodeRequest, service: ServiceDep, settings: SettingsDep, metrics: MetricsDep
) -> ImagesResponse:
    check_at_most(len(body.z), settings.max_n, ("body", "z"))
    check_latents(body.z, service.latent_dim, ("body", "z"))
    images = service.decode(body.digit, torch.tensor(body.z))
    metrics.images_generated.labels("decode").inc(len(body.z))
    return ImagesResponse(images=png_base64(images))


@router.post("/interpolate", response_model=InterpolateResponse, summary="A walk in latent space")
def interpolate(body: InterpolateRequest, service: ServiceDep, metrics: MetricsDep) -> InterpolateResponse:
    if body.z is not None:
        check_latents(list(body.z), service.latent_dim, ("body", "z"))
        start, end = torch.tensor(body.z)
    else:
        start, end = (service.seeded_latents(seed, 1, body.temperature)[0].cpu() for seed in body.seeds or ())
    images, z = service.interpolate(body.digit, start, end, body.steps)
    metrics.images_generated.labels("interpolate").inc(body.steps)
    return InterpolateResponse(
        digit=body.digit, steps=body.steps, images=png_base64(images), latents=z.tolist()
    )
