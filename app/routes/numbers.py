"""Numbers written in one hand: /v1/number and /v1/number.png (model/numbers.py).

Each digit's step is chosen by the model's legibility network (model/numbers.py), then the digits are
decoded in one job of the decoder's micro-batch, with concurrent requests, and the number is set and encoded
from their tiles in the same job, off the event loop.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
from fastapi import Query, Request, Response
from torch import Tensor

from app.batched import BatchedModels, ServedModels
from app.dependencies import metrics_of, models_of
from app.metrics import Metrics
from app.routes import v1_router
from app.routes.generation import seed_or_random
from app.schemas import (
    HEIGHT_BOUNDS,
    HEIGHT_DESCRIPTION,
    NUMBER_MODEL_DESCRIPTION,
    NUMBER_MODELS,
    NUMBER_PATTERN,
    NUMBER_TEXT_DESCRIPTION,
    REQUEST_ERRORS,
    SEED_BOUNDS,
    TEMPERATURE_BOUNDS,
    ErrorResponse,
    NumberRequest,
    NumberResponse,
    request_error,
)
from model.images import png_bytes
from model.numbers import MAX_DIGITS, MIN_HEIGHT, Hand, number_labels, writes_numbers

router = v1_router(
    "numbers",
    {
        400: {"model": ErrorResponse, "description": "the body is not JSON"},
        413: {"model": ErrorResponse, "description": "body over the limit"},
        **REQUEST_ERRORS,
    },
)


@dataclass(frozen=True)
class NumberAsk:
    """What a request asks: `text` written by a model in a given style or the seed's, `height` pixels high."""

    model: BatchedModels
    text: str
    seed: int
    temperature: float
    style: list[float] | None
    height: int


def number_writer(models: ServedModels, name: str | None, where: str, does: str = "write") -> BatchedModels:
    """The model asked for, if its classes are the digits (a 422 that says it does not `does` digits)."""
    model = models.get(name)
    if not writes_numbers(model.class_names):
        classes = ", ".join(model.class_names)
        message = f"model {model.name} does not {does} digits (its classes: {classes})"
        raise request_error((where, "model"), message, name)
    return model


async def _written(ask: NumberAsk, where: str, metrics: Metrics) -> tuple[Tensor, bytes, list[list[int]]]:
    """The style used, and the number's PNG and boxes: its digits at their chosen steps (model/numbers.py),
    decoded in a batch with concurrent requests, then set and encoded by the decoder's job."""
    model = ask.model
    if ask.style is None:
        z = model.seeded_latents(ask.seed, 1, ask.temperature)[0]
    elif len(ask.style) != model.latent_dim:
        message = f"the style needs {model.latent_dim} numbers, got {len(ask.style)}"
        raise request_error((where, "z"), message, ask.style)
    else:
        z = torch.tensor(ask.style)
    hand = Hand.drawn(ask.seed, len(ask.text), model.latent_dim)
    labels = number_labels(ask.text)

    def encode(tiles: np.ndarray) -> tuple[bytes, list[list[int]]]:
        written = hand.compose(tiles, ask.height)
        return png_bytes(written.image), written.boxes

    image, boxes = await model.decode(labels, hand.chosen(z, labels, model.foresee), encode)
    metrics.images_generated.labels(model.name, "number").inc(len(labels))
    return z, image, boxes


@router.post(
    "/number",
    response_model=NumberResponse,
    summary="A number written in one hand, from a seed or from a given style",
)
async def number(body: NumberRequest, request: Request) -> NumberResponse:
    seed = seed_or_random(body.seed)
    model = number_writer(models_of(request), body.model, "body")
    ask = NumberAsk(model, body.text, seed, body.temperature, body.z, body.height)
    z, image, boxes = await _written(ask, "body", metrics_of(request))
    return NumberResponse(
        model=model.name,
        text=body.text,
        seed=seed,
        temperature=body.temperature,
        height=body.height,
        image=base64.b64encode(image).decode("ascii"),
        z=z.tolist(),
        boxes=boxes,
    )


@router.get(
    "/number.png",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {}},
            "description": "the number as one PNG; the seed used in X-Seed, the digits' boxes in X-Boxes "
            "(x0,y0,x1,y1 per digit, digits apart by ';')",
        }
    },
    summary="A number written in one hand, as one PNG",
)
async def number_png(
    request: Request,
    text: Annotated[
        str,
        Query(
            min_length=1, max_length=MAX_DIGITS, pattern=NUMBER_PATTERN, description=NUMBER_TEXT_DESCRIPTION
        ),
    ],
    model: Annotated[
        str | None, Query(description=NUMBER_MODEL_DESCRIPTION, json_schema_extra=NUMBER_MODELS)
    ] = None,
    seed: Annotated[int | None, Query(**SEED_BOUNDS, description="null: chosen at random")] = None,
    temperature: Annotated[float, Query(**TEMPERATURE_BOUNDS)] = 1.0,
    height: Annotated[int, Query(**HEIGHT_BOUNDS, description=HEIGHT_DESCRIPTION)] = MIN_HEIGHT,
) -> Response:
    seed = seed_or_random(seed)
    ask = NumberAsk(number_writer(models_of(request), model, "query"), text, seed, temperature, None, height)
    _, image, boxes = await _written(ask, "query", metrics_of(request))
    headers = {"X-Seed": str(seed), "X-Boxes": ";".join(",".join(map(str, box)) for box in boxes)}
    return Response(image, media_type="image/png", headers=headers)
