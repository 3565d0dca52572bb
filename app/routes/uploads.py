"""Uploaded handwriting: /v1/reconstruct, /v1/encode and /v1/transfer (multipart `file`, optional `digit`)."""

from __future__ import annotations

from typing import Annotated

import torch
from fastapi import APIRouter, File, Form, UploadFile

from app.dependencies import MetricsDep, ModelsDep
from app.encoding import png_base64_tiles
from app.schemas import EncodeResponse, ErrorResponse, Loss, ReconstructResponse, TransferResponse
from app.service import UploadAnalysis

_ERRORS = {
    400: {"model": ErrorResponse, "description": "undecodable, empty or truncated image, or no ink found"},
    408: {"model": ErrorResponse, "description": "the body did not arrive in time"},
    413: {"model": ErrorResponse, "description": "body or pixel count over the limit"},
    415: {"model": ErrorResponse, "description": "not an image in an accepted format"},
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}
router = APIRouter(prefix="/v1", tags=["uploads"], responses=_ERRORS)

# format binary: what client generators (openapi-python-client among them) read as a file to upload.
Upload = Annotated[
    UploadFile,
    File(
        description="PNG, JPEG, GIF, WebP, BMP or TIFF; either polarity",
        json_schema_extra={"format": "binary", "minLength": 1},
    ),
]
# Typed without None, so that the schema does not offer null (a form cannot send one); left out, it is None.
OptionalDigit = Annotated[
    int, Form(ge=0, le=9, description="the digit shown; omitted: the digit classifier decides")
]


def _decision(analysis: UploadAnalysis) -> dict[str, object]:
    return {
        "digit": analysis.digit,
        "digit_source": analysis.digit_source,
        "probabilities": analysis.probabilities,
        "elbo_probabilities": analysis.elbo_probabilities,
    }


@router.post("/encode", response_model=EncodeResponse, summary="q(z|x, digit) of an uploaded digit")
async def encode(file: Upload, models: ModelsDep, digit: OptionalDigit = None) -> EncodeResponse:
    analysis = await models.analyse(await file.read(), digit)
    return EncodeResponse(**_decision(analysis), mu=analysis.mu, logvar=analysis.logvar)


@router.post("/reconstruct", response_model=ReconstructResponse, summary="An uploaded digit, reconstructed")
async def reconstruct(
    file: Upload, models: ModelsDep, metrics: MetricsDep, digit: OptionalDigit = None
) -> ReconstructResponse:
    analysis = await models.analyse(await file.read(), digit)
    metrics.images_generated.labels("reconstruct").inc()
    return ReconstructResponse(
        **_decision(analysis),
        mu=analysis.mu,
        logvar=analysis.logvar,
        input=analysis.input_png,
        reconstruction=analysis.reconstruction_png,
        loss=Loss(rec=analysis.rec, kld=analysis.kld, elbo=-(analysis.rec + analysis.kld)),
    )


@router.post("/transfer", response_model=TransferResponse, summary="An uploaded style written as every digit")
async def transfer(
    file: Upload, models: ModelsDep, metrics: MetricsDep, digit: OptionalDigit = None
) -> TransferResponse:
    analysis = await models.analyse(await file.read(), digit)
    classes = models.service.cvae.cfg.num_classes
    style = torch.tensor([analysis.mu]).expand(classes, -1)
    images = await models.decode(torch.arange(classes), style, png_base64_tiles)
    metrics.images_generated.labels("transfer").inc(len(images))
    return TransferResponse(**_decision(analysis), input=analysis.input_png, images=images)
