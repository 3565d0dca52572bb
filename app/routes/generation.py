"""Images from the prior or from given latents: /v1/sample, /v1/sample.png, /v1/decode, /v1/interpolate.

The routes are coroutines: their only heavy step, the decoder, is awaited from the model thread (in a batch
with concurrent requests), so nothing here needs a worker thread of its own.
"""

from __future__ import annotations

import math
import secrets
from functools import partial
from typing import Annotated

import torch
from fastapi import APIRouter, Query, Response
from torch import Tensor

from app.batched import BatchedModels
from app.dependencies import MetricsDep, ModelsDep, SettingsDep
from app.encoding import grid_png, png_base64_tiles
from app.schemas import (
    AT_MOST_MAX_N,
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
from app.service import slerp

router = APIRouter(
    prefix="/v1",
    tags=["generation"],
    responses={
        400: {"model": ErrorResponse, "description": "the body is not JSON"},
        408: {"model": ErrorResponse, "description": "the body did not arrive in time"},
        413: {"model": ErrorResponse, "description": "body over the limit"},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)


def _seed_or_random(seed: int | None) -> int:
    return secrets.randbelow(MAX_SEED + 1) if seed is None else seed


def _labels(digit: int, n: int) -> Tensor:
    return torch.full((n,), digit, dtype=torch.long)


async def _base64_images(models: BatchedModels, digit: int, z: Tensor) -> list[str]:
    return await models.decode(_labels(digit, len(z)), z, png_base64_tiles)


@router.post("/sample", response_model=SampleResponse, summary="New images of a digit from the prior")
async def sample(
    body: SampleRequest, models: ModelsDep, settings: SettingsDep, metrics: MetricsDep
) -> SampleResponse:
    check_at_most(body.n, settings.max_n, ("body", "n"))
    seed = _seed_or_random(body.seed)
    z = models.seeded_latents(seed, body.n, body.temperature)
    images = await _base64_images(models, body.digit, z)
    metrics.images_generated.labels("sample").inc(body.n)
    return SampleResponse(
        digit=body.digit, n=body.n, seed=seed, temperature=body.temperature, images=images, latents=z.tolist()
    )


@router.get(
    "/sample.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "one PNG grid; the seed used in X-Seed"}},
    summary="New images of a digit as one PNG grid",
)
async def sample_png(
    digit: Annotated[int, Query(ge=0, le=9, description="the digit, 0 to 9")],
    models: ModelsDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    n: Annotated[
        int, Query(ge=1, description="how many images, at most CVAE_MAX_N", json_schema_extra=AT_MOST_MAX_N)
    ] = 1,
    seed: Annotated[int | None, Query(ge=0, le=MAX_SEED, description="null: chosen at random")] = None,
    temperature: Annotated[float, Query(gt=0, le=3, allow_inf_nan=False)] = 1.0,
    nrow: Annotated[int | None, Query(ge=1, description="images per row; default: a square grid")] = None,
) -> Response:
    check_at_most(n, settings.max_n, ("query", "n"))
    seed = _seed_or_random(seed)
    z = models.seeded_latents(seed, n, temperature)
    encode = partial(grid_png, nrow=min(nrow or math.ceil(math.sqrt(n)), n))
    png = await models.decode(_labels(digit, n), z, encode)
    metrics.images_generated.labels("sample.png").inc(n)
    return Response(png, media_type="image/png", headers={"X-Seed": str(seed)})


@router.post("/decode", response_model=ImagesResponse, summary="Images of a digit from given latents")
async def decode(
    body: DecodeRequest, models: ModelsDep, settings: SettingsDep, metrics: MetricsDep
) -> ImagesResponse:
    check_at_most(len(body.z), settings.max_n, ("body", "z"))
    check_latents(body.z, models.latent_dim, ("body", "z"))
    images = await _base64_images(models, body.digit, torch.tensor(body.z))
    metrics.images_generated.labels("decode").inc(len(body.z))
    return ImagesResponse(images=images)


@router.post("/interpolate", response_model=InterpolateResponse, summary="A walk in latent space")
async def interpolate(
    body: InterpolateRequest, models: ModelsDep, metrics: MetricsDep
) -> InterpolateResponse:
    if body.z is not None:
        check_latents(list(body.z), models.latent_dim, ("body", "z"))
        start, end = torch.tensor(body.z)
    else:
        start, end = (models.seeded_latents(seed, 1, body.temperature)[0] for seed in body.seeds or ())
    z = slerp(start.float(), end.float(), torch.linspace(0.0, 1.0, body.steps))
    images = await _base64_images(models, body.digit, z)
    metrics.images_generated.labels("interpolate").inc(body.steps)
    return InterpolateResponse(digit=body.digit, steps=body.steps, images=images, latents=z.tolist())
