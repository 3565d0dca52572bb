"""/v1/model: what is being served."""

from __future__ import annotations

from fastapi import APIRouter

from app.dependencies import ServiceDep
from app.schemas import ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", response_model=ModelInfo, summary="The served model, its device and its metrics")
def model_info(service: ServiceDep) -> ModelInfo:
    return ModelInfo.model_validate(service.describe())
