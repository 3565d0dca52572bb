"""Uploads: /v1/reconstruct, /v1/encode and /v1/transfer (multipart `file`; optional `model`, `label`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import torch
from fastapi import Depends, File, Form, Request, UploadFile

from app.batched import BatchedModels, ServedModels
from app.dependencies import metrics_of, models_of
from app.encoding import png_base64_tiles
from app.openapi import LIMIT_KEY
from app.routes import v1_router
from app.schemas import (
    DIGIT_BOUNDS,
    MODEL_DESCRIPTION,
    MODEL_NAMES,
    REQUEST_ERRORS,
    EncodeResponse,
    ErrorResponse,
    Loss,
    ReconstructResponse,
    TransferResponse,
    check_label,
    label_or_digit,
)
from app.service import UploadAnalysis

UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "undecodable, empty or truncated image, or no ink found"},
    413: {"model": ErrorResponse, "description": "body or pixel count over the limit"},
    415: {"model": ErrorResponse, "description": "not an image in an accepted format"},
    **REQUEST_ERRORS,
}
router = v1_router("uploads", UPLOAD_ERRORS)

# format binary: what client generators (openapi-python-client among them) read as a file to upload.
Upload = Annotated[
    UploadFile,
    File(
        description="PNG, JPEG, GIF, WebP, BMP or TIFF; either polarity",
        json_schema_extra={"format": "binary", "minLength": 1},
    ),
]
# Typed without None, so that the schema does not offer null (a form cannot send one); left out, it is None.
OptionalLabel = Annotated[
    int,
    Form(
        ge=0,
        description="the class shown; omitted (with digit): the model's classifier decides",
        json_schema_extra={LIMIT_KEY: "max_label"},
    ),
]
OptionalDigit = Annotated[
    int, Form(**DIGIT_BOUNDS, description="the older name of label, read when label is omitted")
]
OptionalModel = Annotated[str, Form(description=MODEL_DESCRIPTION, json_schema_extra=MODEL_NAMES)]


@dataclass(frozen=True)
class UploadForm:
    """The form fields every upload route takes beside the file."""

    model: str | None
    label: int | None


async def upload_form(
    model: OptionalModel = None, label: OptionalLabel = None, digit: OptionalDigit = None
) -> UploadForm:
    return UploadForm(model, label_or_digit(label, digit, "body", required=False))


FormDep = Annotated[UploadForm, Depends(upload_form)]


async def _analyse(
    models: ServedModels, form: UploadForm, file: UploadFile
) -> tuple[BatchedModels, UploadAnalysis]:
    model = models.get(form.model)
    if form.label is not None:
        check_label(form.label, model.num_classes, model.name, ("body", "label"))
    return model, await model.analyse(await file.read(), form.label)


def _decision(model: BatchedModels, analysis: UploadAnalysis) -> dict[str, object]:
    return {
        "model": model.name,
        "label": analysis.digit,
        "digit": analysis.digit,
        "class_name": model.class_names[analysis.digit],
        "digit_source": analysis.digit_source,
        "probabilities": analysis.probabilities,
        "elbo_probabilities": analysis.elbo_probabilities,
        "is_digit": analysis.is_digit,
        "ood_score": analysis.ood_score,
        "notes": analysis.notes,
    }


@router.post("/encode", response_model=EncodeResponse, summary="q(z|x, label) of an upload")
async def encode(file: Upload, request: Request, form: FormDep) -> EncodeResponse:
    model, analysis = await _analyse(models_of(request), form, file)
    return EncodeResponse(**_decision(model, analysis), mu=analysis.mu, logvar=analysis.logvar)


@router.post("/reconstruct", response_model=ReconstructResponse, summary="An upload, reconstructed")
async def reconstruct(file: Upload, request: Request, form: FormDep) -> ReconstructResponse:
    model, analysis = await _analyse(models_of(request), form, file)
    metrics_of(request).images_generated.labels(model.name, "reconstruct").inc()
    return ReconstructResponse(
        **_decision(model, analysis),
        mu=analysis.mu,
        logvar=analysis.logvar,
        input=analysis.input_png,
        reconstruction=analysis.reconstruction_png,
        loss=Loss(rec=analysis.rec, kld=analysis.kld, elbo=-(analysis.rec + analysis.kld)),
    )


@router.post("/transfer", response_model=TransferResponse, summary="An upload's style written as every class")
async def transfer(file: Upload, request: Request, form: FormDep) -> TransferResponse:
    model, analysis = await _analyse(models_of(request), form, file)
    style = torch.tensor([analysis.mu]).expand(model.num_classes, -1)
    images = await model.decode(torch.arange(model.num_classes), style, png_base64_tiles)
    metrics_of(request).images_generated.labels(model.name, "transfer").inc(len(images))
    return TransferResponse(**_decision(model, analysis), input=analysis.input_png, images=images)
