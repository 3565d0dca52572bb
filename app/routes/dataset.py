"""GET /v1/dataset: a labelled synthetic dataset as one download, the bytes that `cvae-generate` writes for
the same arguments (model/synthetic.py, model/number_sets.py, model/dataset_files.py; docs/dataset.md):
per_class images of each class, or `numbers` images of written numbers.

The answer is streamed. Starlette pulls its body from the encoder in worker threads, a chunk of images at a
time; each chunk is decoded by the model's batchers in the model threads, in a batch with concurrent
requests, like any request's images. Without min_confidence a request holds one chunk at a time. With it,
the images are all found before the answer starts, so that a class the model cannot meet is a 422 rather
than a download cut short; they are held until sent: at most num_classes x CVAE_MAX_DATASET_PER_CLASS x 784
bytes (7.8 MB for the digits at the default 1000). A set of numbers may hold no more digits than that
largest dataset of each class (numbers x max_length <= num_classes x CVAE_MAX_DATASET_PER_CLASS): as much
decoding, and about as many bytes.
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
from app.routes.numbers import number_writer
from app.schemas import (
    CONFIDENCE_BOUNDS,
    LENGTH_BOUNDS,
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
from model.checkpoint import Checkpoint
from model.dataset_files import (
    NUMBER_FORMATS,
    Piece,
    datasheet,
    encode,
    encode_numbers,
    idx_sizes,
    number_datasheet,
    provenance,
    safe_name,
    tar_stream,
    with_datasheet,
)
from model.legible import Judged, TooFewLegibleError
from model.number_sets import MAX_LENGTH, MIN_LENGTH, NumberSet, NumberSetSpec
from model.synthetic import DatasetSpec, Synthesis

router = v1_router("generation", REQUEST_ERRORS)

Format = Literal["npz", "idx", "png"]
# npz: numpy's own file (a zip of .npy arrays); idx: a tar of MNIST's two files and datasheet.json; png: a
# tar of a set of numbers' PNGs, labels.tsv and datasheet.json.
MEDIA_TYPES: dict[str, str] = {
    "npz": "application/octet-stream",
    "idx": "application/x-tar",
    "png": "application/x-tar",
}
EXTENSIONS: dict[str, str] = {"npz": "npz", "idx": "tar", "png": "tar"}
CLASS_FORMATS = ("npz", "idx")
FORMAT_DESCRIPTION = (
    "npz: one .npz (per_class: images N x 28 x 28 uint8, labels N uint8, class_names; numbers: images "
    "N x 28 x W uint8, widths, labels N str, boxes, seeds); idx (per_class only): a tar of "
    "train-images-idx3-ubyte, train-labels-idx1-ubyte and datasheet.json; png (numbers only): a tar of "
    "images/<index>.png, labels.tsv and datasheet.json"
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
    format: Format,
    pieces: Iterator[Piece],
    sheet: Callable[[dict[str, Any]], dict[str, Any]],
    sizes: dict[str, int],
) -> Iterator[bytes]:
    """The download's bytes: the .npz itself, or the tar of the files and the datasheet (`sizes`: the files
    streamed into it, whose sizes are known before their first byte; tar_stream holds any other whole)."""
    if format == "npz":
        return (data for _, data in pieces)
    return tar_stream(with_datasheet(pieces, sheet), sizes)


def _records(
    model: BatchedModels, settings: Settings, arguments: dict[str, Any], classifier: Checkpoint | None
) -> dict[str, Any]:
    """What the datasheet says of the model, the classifier that may judge the images and the runtime, and
    the request, every argument resolved, that makes the dataset again."""
    service = model.service
    return {
        **provenance(service.cvae_checkpoint, classifier, service.device, settings.block_rows),
        "origin": {"request": f"GET /v1/dataset?{urlencode(arguments)}"},
    }


def _download(body: Iterator[bytes], format: Format, filename: str, seed: int) -> StreamingResponse:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "X-Seed": str(seed)}
    return StreamingResponse(body, media_type=MEDIA_TYPES[format], headers=headers)


def _refuse(given: dict[str, Any], why: str) -> None:
    """A 422 at the first of `given`'s fields that has a value, naming all that have one."""
    named = [name for name, value in given.items() if value is not None]
    if named:
        raise request_error(("query", named[0]), f"{' and '.join(named)}: {why}", given[named[0]])


def _check_format(format: Format, formats: tuple[str, ...], kind: str) -> None:
    if format not in formats:
        raise request_error(("query", "format"), f"{kind} comes as {' or '.join(formats)}", format)


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
            "description": "an invalid request (per_class and numbers together, or neither; an option or "
            "format of the other kind; numbers of a model whose classes are not the digits), or a class "
            "with fewer than per_class images that reached min_confidence within CVAE_MAX_DRAWS draws (the "
            "message says which and how many did)",
        },
    },
    summary="A labelled synthetic dataset as one download",
)
async def dataset(
    request: Request,
    per_class: Annotated[
        int | None,
        Query(
            ge=1,
            description="images of each class, at most CVAE_MAX_DATASET_PER_CLASS; give per_class or numbers",
            json_schema_extra={LIMIT_KEY: "max_dataset_per_class"},
        ),
    ] = None,
    numbers: Annotated[
        int | None,
        Query(
            ge=1,
            description="images of written numbers instead, each in a hand of its own, labelled with its "
            "digits (a model whose classes are the digits); numbers x max_length at most "
            "CVAE_MAX_DATASET_PER_CLASS x 10",
        ),
    ] = None,
    min_length: Annotated[
        int | None,
        Query(
            **LENGTH_BOUNDS, description=f"with numbers: the fewest digits of a number (default {MIN_LENGTH})"
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        Query(
            **LENGTH_BOUNDS, description=f"with numbers: the most digits of a number (default {MAX_LENGTH})"
        ),
    ] = None,
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
    if numbers is not None:
        _refuse(
            {"per_class": per_class, "min_confidence": min_confidence},
            "for images of each class, not with numbers",
        )
        _check_format(format, NUMBER_FORMATS, "numbers")
        lengths = (
            MIN_LENGTH if min_length is None else min_length,
            MAX_LENGTH if max_length is None else max_length,
        )
        try:
            spec = NumberSetSpec(numbers, seed_or_random(seed), temperature, *lengths)
        except ValueError as error:  # min_length over max_length: the rest the query's bounds checked
            raise request_error(("query", "min_length"), str(error), min_length) from None
        return _numbers(request, spec, format, model)
    if per_class is None:
        message = "give per_class (images of each class) or numbers (written numbers)"
        raise request_error(("query", "per_class"), message, None)
    _refuse({"min_length": min_length, "max_length": max_length}, "only with numbers")
    _check_format(format, CLASS_FORMATS, "per_class")
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
        chosen,
        settings,
        {key: value for key, value in arguments.items() if value is not None},
        chosen.service.classifier_checkpoint,
    )

    def sheet(files: dict[str, Any]) -> dict[str, Any]:
        return datasheet(synthesis, format=format, files=files, **records)

    sizes = idx_sizes(synthesis.size, synthesis.image_shape)
    body = _body(format, encode(format, synthesis), sheet, sizes)
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
    return _download(body, format, filename, spec.seed)


def _numbers(request: Request, spec: NumberSetSpec, format: Format, model: str | None) -> Response:
    """The download of a set of written numbers: what `cvae-generate --numbers` writes for the arguments."""
    chosen, settings = number_writer(models_of(request), model, "query"), settings_of(request)
    most_digits = settings.max_dataset_per_class * chosen.num_classes
    digits = spec.count * spec.max_length
    if digits > most_digits:
        message = (
            f"numbers x max_length must be at most {most_digits} digits (CVAE_MAX_DATASET_PER_CLASS x "
            f"{chosen.num_classes} classes); {spec.count} x {spec.max_length} is {digits}"
        )
        raise request_error(("query", "numbers"), message, spec.count)
    count = metrics_of(request).images_generated.labels(chosen.name, "dataset").inc
    decode = partial(_decode, chosen, count)
    number_set = NumberSet(
        chosen.service.cvae, spec, decode, chosen.foresee, chunk_rows=settings.batch_max_rows
    )
    arguments = {"numbers": spec.count, "min_length": spec.min_length, "max_length": spec.max_length}
    arguments |= {"format": format, "model": chosen.name, "seed": spec.seed, "temperature": spec.temperature}
    records = _records(chosen, settings, arguments, chosen.service.classifier_checkpoint)

    def sheet(files: dict[str, Any]) -> dict[str, Any]:
        return number_datasheet(number_set, format=format, files=files, **records)

    body = _body(format, encode_numbers(format, number_set), sheet, {})
    filename = f"{safe_name(chosen.name)}-seed{spec.seed}-{spec.count}-numbers.{EXTENSIONS[format]}"
    return _download(body, format, filename, spec.seed)
