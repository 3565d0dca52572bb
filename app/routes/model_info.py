"""/v1/model and /v1/models: what is being served."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from app.dependencies import models_of
from app.routes import v1_router
from app.schemas import MODEL_DESCRIPTION, MODEL_NAMES, NO_SUCH_MODEL, ModelInfo, ModelsResponse

router = v1_router("model")


@router.get(
    "/model",
    response_model=ModelInfo,
    responses={404: NO_SUCH_MODEL},
    summary="A served model, its classes, its device and its metrics",
)
async def model_info(
    request: Request,
    model: Annotated[str | None, Query(description=MODEL_DESCRIPTION, json_schema_extra=MODEL_NAMES)] = None,
) -> ModelInfo:
    return ModelInfo.model_validate(models_of(request).get(model).describe())


@router.get("/models", response_model=ModelsResponse, summary="Every served model; which one is the default")
async def list_models(request: Request) -> ModelsResponse:
    models = models_of(request)
    return ModelsResponse(
        default=models.default.name, models=[ModelInfo.model_validate(model.describe()) for model in models]
    )
