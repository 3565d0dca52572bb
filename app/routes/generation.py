"""Images from the prior or from given latents: /v1/sample, /v1/sample.png, /v1/decode, /v1/interpolate.

The routes are coroutines: their only heavy steps, the decoder (and, for min_confidence, the classifier),
are awaited from the model thread (in a batch with concurrent requests), so nothing here needs a worker
thread of its own.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import Query, Request, Response
from torch import Tensor

from app.batched import BatchedModels, Encoded, SampleAsk, Samples, ServedModels
from app.dependencies import metrics_of, models_of, settings_of
from app.encoding import grid_png, png_base64_tiles
from app.metrics import Metrics
from app.openapi import LIMIT_KEY
from app.routes import v1_router
from app.schemas import (
    AT_MOST_MAX_N,
    CONFIDENCE_BOUNDS,
    DIGIT_BOUNDS,
    MAX_SEED,
    MIN_CONFIDENCE_DESCRIPTION,
    MODEL_DESCRIPTION,
    MODEL_NAMES,
    REQUEST_ERRORS,
    SEED_BOUNDS,
    TEMPERATURE_BOUNDS,
    DecodeRequest,
    ErrorResponse,
    ImagesResponse,
    InterpolateRequest,
    InterpolateResponse,
    LabelledRequest,
    SampleRequest,
    SampleResponse,
    check_at_most,
    check_label,
    check_latents,
    label_or_digit,
    request_error,
)
from app.settings import Settings
from model.cvae import class_labels
from model.interpolation import slerp
from model.legible import TooFewLegibleError

router = v1_router(
    "generation",
    {
        400: {"model": ErrorResponse, "description": "the body is not JSON"},
        413: {"model": ErrorResponse, "description": "body over the limit"},
        **REQUEST_ERRORS,
    },
)


def seed_or_random(seed: int | None) -> int:
    """The seed a request asked for, else one chosen at random (and returned, so it can be asked again)."""
    return secrets.randbelow(MAX_SEED + 1) if seed is None else seed


def _model_and_label(
    models: ServedModels, name: str | None, label: int | None, digit: int | None, where: str
) -> tuple[BatchedModels, int]:
    """The requested model and the class asked of it (label or digit, label_or_digit), checked against that
    model's classes; a 422 names the field given, in the request's `where` (body or query)."""
    model = models.get(name)
    chosen = label_or_digit(label, digit, where)
    assert chosen is not None  # required: label_or_digit refused a request without one
    check_label(chosen, model.num_classes, model.name, (where, "label" if label is not None else "digit"))
    return model, chosen


def _chosen(models: ServedModels, body: LabelledRequest) -> tuple[BatchedModels, int]:
    return _model_and_label(models, body.model, body.label, body.digit, "body")


def _answer(model: BatchedModels, label: int) -> dict[str, object]:
    return {"model": model.name, "label": label, "digit": label, "class_name": model.class_names[label]}


async def _base64_images(model: BatchedModels, label: int, z: Tensor) -> list[str]:
    return await model.decode(class_labels(label, len(z)), z, png_base64_tiles)


# The 422 of /v1/sample and /v1/sample.png, which a valid request with min_confidence can get too.
SAMPLE_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ErrorResponse,
        "description": "an invalid request, or fewer than n images reached min_confidence within "
        "CVAE_MAX_DRAWS draws (the message says how many did)",
    }
}


async def _samples(
    model: BatchedModels, ask: SampleAsk, encode: Callable[[np.ndarray], Encoded], where: str
) -> Samples[Encoded]:
    """model.sample(), a request it cannot meet within CVAE_MAX_DRAWS answered 422 at min_confidence."""
    try:
        return await model.sample(ask, encode)
    except TooFewLegibleError as error:
        message = (
            f"{error}, the most a request may draw (CVAE_MAX_DRAWS): ask for fewer images, a lower "
            "min_confidence or temperature, or another seed"
        )
        raise request_error((where, "min_confidence"), message, ask.min_confidence) from None


async def sample_answer(
    body: SampleRequest, models: ServedModels, settings: Settings, metrics: Metrics
) -> SampleResponse:
    """/v1/sample's answer to a validated body: what the route returns, and what app/fast_sample.py sends
    when it answers the request itself."""
    model, label = _chosen(models, body)
    check_at_most(body.n, settings.max_n, ("body", "n"))
    seed = seed_or_random(body.seed)
    ask = SampleAsk(label, seed, body.n, body.temperature, body.min_confidence)
    samples = await _samples(model, ask, png_base64_tiles, "body")
    metrics.images_generated.labels(model.name, "sample").inc(samples.decoded)
    return SampleResponse(
        **_answer(model, label),
        n=body.n,
        seed=seed,
        temperature=body.temperature,
        draws=samples.draws,
        images=samples.encoded,
        latents=samples.z.tolist(),
    )


@router.post(
    "/sample",
    response_model=SampleResponse,
    responses=SAMPLE_ERRORS,
    summary="New images of a class from the prior",
)
async def sample(body: SampleRequest, request: Request) -> SampleResponse:
    return await sample_answer(body, models_of(request), settings_of(request), metrics_of(request))


@router.get(
    "/sample.png",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {}},
            "description": "one PNG grid; the seed used in X-Seed, the latents drawn in X-Draws",
        },
        **SAMPLE_ERRORS,
    },
    summary="New images of a class as one PNG grid",
)
async def sample_png(
    request: Request,
    label: Annotated[
        int | None,
        Query(ge=0, description="the class (default 0)", json_schema_extra={LIMIT_KEY: "max_label"}),
    ] = None,
    digit: Annotated[
        int | None, Query(**DIGIT_BOUNDS, description="the older name of label, read when label is left out")
    ] = None,
    model: Annotated[str | None, Query(description=MODEL_DESCRIPTION, json_schema_extra=MODEL_NAMES)] = None,
    n: Annotated[
        int, Query(ge=1, description="how many images, at most CVAE_MAX_N", json_schema_extra=AT_MOST_MAX_N)
    ] = 1,
    seed: Annotated[int | None, Query(**SEED_BOUNDS, description="null: chosen at random")] = None,
    temperature: Annotated[float, Query(**TEMPERATURE_BOUNDS)] = 1.0,
    nrow: Annotated[int | None, Query(ge=1, description="images per row; default: a square grid")] = None,
    min_confidence: Annotated[
        float | None, Query(**CONFIDENCE_BOUNDS, description=MIN_CONFIDENCE_DESCRIPTION)
    ] = None,
) -> Response:
    chosen, asked = _model_and_label(models_of(request), model, label, digit, "query")
    check_at_most(n, settings_of(request).max_n, ("query", "n"))
    seed = seed_or_random(seed)
    encode = partial(grid_png, nrow=min(nrow or math.ceil(math.sqrt(n)), n))
    samples = await _samples(chosen, SampleAsk(asked, seed, n, temperature, min_confidence), encode, "query")
    metrics_of(request).images_generated.labels(chosen.name, "sample.png").inc(samples.decoded)
    headers = {"X-Seed": str(seed), "X-Draws": str(samples.draws)}
    return Response(samples.encoded, media_type="image/png", headers=headers)


@router.post("/decode", response_model=ImagesResponse, summary="Images of a class from given latents")
async def decode(body: DecodeRequest, request: Request) -> ImagesResponse:
    model, label = _chosen(models_of(request), body)
    check_at_most(len(body.z), settings_of(request).max_n, ("body", "z"))
    check_latents(body.z, model.latent_dim, ("body", "z"))
    images = await _base64_images(model, label, torch.tensor(body.z))
    metrics_of(request).images_generated.labels(model.name, "decode").inc(len(body.z))
    return ImagesResponse(images=images)


@router.post("/interpolate", response_model=InterpolateResponse, summary="A walk in latent space")
async def interpolate(body: InterpolateRequest, request: Request) -> InterpolateResponse:
    model, label = _chosen(models_of(request), body)
    if body.z is not None:
        check_latents(list(body.z), model.latent_dim, ("body", "z"))
        start, end = torch.tensor(body.z)
    else:
        start, end = (model.seeded_latents(seed, 1, body.temperature)[0] for seed in body.seeds or ())
    z = slerp(start.float(), end.float(), torch.linspace(0.0, 1.0, body.steps))
    images = await _base64_images(model, label, z)
    metrics_of(request).images_generated.labels(model.name, "interpolate").inc(body.steps)
    return InterpolateResponse(**_answer(model, label), steps=body.steps, images=images, latents=z.tolist())
