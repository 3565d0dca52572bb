"""GET /v1/dataset: a labelled synthetic dataset as one download, the bytes that `cvae-generate` writes for
the same arguments (model/synthetic.py, model/dataset_files.py; docs/dataset.md).

The answer is streamed. Starlette pulls its body from the encoder in worker threads, a chunk of images at a
time; each chunk is decoded by the model's batchers in the model threads, in a batch with concurrent
requests, like any request's images. Without min_confidence a request holds one chunk at a time. With it,
the images are all found before the answer starts, so that a class the model cannot meet is a 422 rather
than a download cut short; they are held until sent: at most num_classes x CVAE_MAX_DATASET_PER_CLASS x 784
bytes (7.8 MB for the digits at the default 1000).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import numpy as np
from anyio import from_thread, to_thread
from fastapi import Query, Request, Response
from fastapi.responses import StreamingResponse
from torch import Tensor

from app.batched import BatchedModels
from app.dependencies import metrics_of, models_of, settings_of
from app.openapi import LIMIT_KEY
from app.routes import v1_router
from app.routes.generation import seed_or_random
from app.schemas import (
    CONFIDENCE_BOUNDS,
    MODEL_DESCRIPTION,
    MODEL_NAMES,
    REQUEST_ERRORS,
    SEED_BOUNDS,
    TEMPERATURE_BOUNDS,
    ErrorResponse,
    check_at_most,
    request_error,
)
from app.settings import Settings
from model.dataset_files import (
    datasheet,
    encode,
    idx_sizes,
    provenance,
    safe_name,
    tar_stream,
    with_datasheet,
)
from model.legible import Judged, TooFewLegibleError
from model.synthetic import DatasetSpec, Synthesis

router = v1_router("generation", REQUEST_ERRORS)

Format = Literal["npz", "idx"]
# npz: numpy's own file (a zip of .npy arrays); idx: a tar of MNIST's two files and datasheet.json.
MEDIA_TYPES: dict[str, str] = {"npz": "application/octet-stream", "idx": "application/x-tar"}
EXTENSIONS: dict[str, str] = {"npz": "npz", "idx": "tar"}
FORMAT_DESCRIPTION = (
    "npz: one .npz (images N x 28 x 28 uint8, labels N uint8, class_names); idx: a tar of "
    "train-images-idx3-ubyte, train-labels-idx1-ubyte and datasheet.json"
)
BINARY = {"schema": {"type": "string", "format": "binary"}}


def _decode(model: BatchedModels, count: Callable[[int], None], labels: Tensor, z: Tensor) -> np.ndarray:
    """A chunk's images, from a worker thread: decoded by the model's batcher, on the event loop's side."""
    count(len(z))
    return from_thread.run(model.decode, labels, z, np.copy)


def _judge(model: BatchedModels, count: Callable[[int], None], labels: Tensor, z: Tensor) -> Judged:
    """A chunk's images and the classifier's reading of them, from a worker thread, as _decode."""
    count(len(z))
    return from_thread.run(model.judged, labels, z)


def _body(
    format: Format, synthesis: Synthesis, sheet: Callable[[dict[str, Any]], dict[str, Any]]
) -> Iterator[bytes]:
    """The download's bytes: the .npz itself, or the tar of the IDX files and the datasheet."""
    if format == "npz":
        return (data for _, data in encode("npz", synthesis))
    sizes = idx_sizes(synthesis.size, synthesis.image_shape)
    return tar_stream(with_datasheet(encode("idx", synthesis), sheet), sizes)


def _records(model: BatchedModels, settings: Settings, arguments: dict[str, Any]) -> dict[str, Any]:
    """What the datasheet says of the model, its classifier and the runtime, and the request, every argument
    resolved, that makes the dataset again."""
    service = model.service
    return {
        **provenance(
            service.cvae_checkpoint, service.classifier_checkpoint, service.device, settings.block_rows
        ),
        "origin": {"request": f"GET /v1/dataset?{urlencode(arguments)}"},
    }


@router.get(
    "/dataset",
    response_class=Response,
    responses={
        200: {
            "content": {media_type: BINARY for media_type in MEDIA_TYPES.values()},
            "description": "the dataset as an attachment (Content-Disposition names the file), streamed; "
            "the seed used in X-Seed",
        },
        422: {
            "model": ErrorResponse,
            "description": "an invalid request, or a class with fewer than per_class images that reached "
            "min_confidence within CVAE_MAX_DRAWS draws (the message says which and how many did)",
        },
    },
    summary="A labelled synthetic dataset as one download",
)
async def dataset(
    request: Request,
    per_class: Annotated[
        int,
        Query(
            ge=1,
            description="images of each class, at most CVAE_MAX_DATASET_PER_CLASS",
            json_schema_extra={LIMIT_KEY: "max_dataset_per_class"},
        ),
    ],
    format: Annotated[Format, Query(description=FORMAT_DESCRIPTION)] = "npz",
    model: Annotated[str | None, Query(description=MODEL_DESCRIPTION, json_schema_extra=MODEL_NAMES)] = None,
    seed: Annotated[int | None, Query(**SEED_BOUNDS, description="null: chosen at random")] = None,
    temperature: Annotated[float, Query(**TEMPERATURE_BOUNDS)] = 1.0,
    min_confidence: Annotated[
        float | None,
        Query(
            **CONFIDENCE_BOUNDS,
            description="only images that the model's classifier reads as their class with at least this "
            "probability, the first per_class of each class's latents that pass; at most CVAE_MAX_DRAWS "
            "are drawn per class (422 when fewer pass); null: every image, as drawn",
        ),
    ] = None,
) -> Response:
    chosen, settings = models_of(request).get(model), settings_of(request)
    check_at_most(per_class, settings.max_dataset_per_class, ("query", "per_class"))
    spec = DatasetSpec(per_class, seed_or_random(seed), temperature, min_confidence)
    count = metrics_of(request).images_generated.labels(chosen.name, "dataset").inc
    synthesis = Synthesis(
        chosen.service.cvae,
        spec,
        chosen.class_names,
        partial(_decode, chosen, count),
        partial(_judge, chosen, count),
        max_draws=settings.max_draws,
        chunk_rows=settings.batch_max_rows,
        min_chunk_rows=settings.block_rows,
    )
    arguments = {"per_class": per_class, "format": format, "model": chosen.name, "seed": spec.seed}
    arguments |= {"temperature": temperature, "min_confidence": min_confidence}
    records = _records(
        chosen, settings, {key: value for key, value in arguments.items() if value is not None}
    )

    def sheet(files: dict[str, Any]) -> dict[str, Any]:
        return datasheet(synthesis, format=format, files=files, **records)

    body = _body(format, synthesis, sheet)
    if min_confidence is not None:
        try:
            body = iter(await to_thread.run_sync(list, body))
        except TooFewLegibleError as error:
            message = (
                f"{error}; a class may draw at most CVAE_MAX_DRAWS latents: ask for fewer images, a lower "
                "min_confidence or temperature, or another seed"
            )
            raise request_error(("query", "min_confidence"), message, min_confidence) from None
    filename = f"{safe_name(chosen.name)}-seed{spec.seed}-{per_class}-per-class.{EXTENSIONS[format]}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "X-Seed": str(spec.seed)}
    return StreamingResponse(body, media_type=MEDIA_TYPES[format], headers=headers)
