"""Uploaded handwriting: /v1/reconstruct, /v1/encode and /v1/transfer (multipart `file`, optional `digit`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app.dependencies import MetricsDep, ServiceDep
from app.encoding import png_base64
from app.schemas import EncodeResponse, ErrorResponse, Loss, ReconstructResponse, TransferResponse
from app.service import UploadAnalysis

_ERRORS = {
    400: {"model": ErrorResponse, "description": "undecodable, empty or truncated image, or no ink found"},
    413: {"model": ErrorResponse, "description": "body or pixel count over the limit"},
    415: {"model": ErrorResponse, "description": "not an image in an accepted format"},
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}
router = APIRouter(prefix="/v1", tags=["uploads"], responses=_ERRORS)

Upload = Annotated[UploadFile, File(description="PNG, JPEG, GIF, WebP, BMP or TIFF; either polarity")]
OptionalDigit = Annotated[
    int | None, Form(ge=0, le=9, description="the digit shown; omitted: the digit classifier decides")
]


def _decision(analysis: UploadAnalysis) -> dict[str, object]:
    return {
        "digit": analysis.digit,
        "digit_source": analysis.digit_source,
        "probabilities": analysis.probabilities,
        "elbo_probabilities": analysis.elbo_probabilities,
    }


def _posterior(analysis: UploadAnalysis) -> dict[str, object]:
    return {"mu": analysis.mu[0].tolist(), "logvar": analysis.logvar[0].tolist()}


@router.post("/encode", response_model=EncodeResponse, summary="q(z|x, digit) of an uploaded digit")
def encode(file: Upload, service: ServiceDep, digit: OptionalDigit = None) -> EncodeResponse:
    analysis = service.analyse(file.file.read(), digit)
    return EncodeResponse(**_decision(analysis), **_posterior(analysis))


@router.post("/reconstruct", response_model=ReconstructResponse, summary="An uploaded digit, reconstructed")
def reconstruct(
    file: Upload, service: ServiceDep, metrics: MetricsDep, digit: OptionalDigit = None
) -> ReconstructResponse:
    analysis, reconstruction, terms = service.reconstruct(file.file.read(), digit)
    metrics.images_generated.labels("reconstruct").inc()
    rec, kld = terms.rec.item(), terms.kld.item()
    return ReconstructResponse(
        **_decision(analysis),
        **_posterior(analysis),
        input=png_base64(analysis.x)[0],
        reconstruction=png_base64(reconstruction)[0],
        loss=Loss(rec=rec, kld=kld, elbo=-(rec + kld)),
    )


@router.post("/transfer", response_model=TransferResponse, summary="An uploaded style written as every digit")
def transfer(
    file: Upload, service: ServiceDep, metrics: MetricsDep, digit: OptionalDigit = None
) -> TransferResponse:
    analysis, images = service.transfer(file.file.read(), digit)
    metrics.images_generated.labels("transfer").inc(len(images))
    return TransferResponse(**_decision(analysis), input=png_base64(analysis.x)[0], images=png_base64(images))
