"""/v1/model: what is being served."""

from __future__ import annotations

from fastapi import APIRouter

from app.dependencies import ModelsDep
from app.schemas import ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", response_model=ModelInfo, summary="The served model, its device and its metrics")
async def model_info(models: ModelsDep) -> ModelInfo:
    return ModelInfo.model_validate(models.describe())
