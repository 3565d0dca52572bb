"""What every peer serves: /v1/sample's answer for {label, n, seed}, made by the project's own code.

The peers must answer exactly what cvae-serve answers, or the comparison measures different work: the
service's own ModelService (app/service.py) runs the batch, with the same seeded draws, blockwise
channels-last decoder, uint8 conversion and PNG/base64 encoder, and the answer is the service's
SampleResponse. Only the digits model is loaded: a peer needs nothing else for these requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from pydantic import BaseModel, Field

from app.encoding import png_base64_tiles
from app.schemas import MAX_SEED, SampleResponse
from app.service import DecodeJob, ModelService
from app.settings import ModelPaths, Settings
from benchmarks.peers.config import worker_threads
from model.cvae import class_labels

SETTINGS = Settings()  # the shipped settings: the digits model, its block rows, cvae-serve's limit on n
TEMPERATURE = 1.0


class SampleBody(BaseModel):
    """The request: what the benchmark sends to cvae-serve's POST /v1/sample too."""

    label: int = Field(ge=0, le=9)
    n: int = Field(1, ge=1, le=SETTINGS.max_n)
    seed: int = Field(ge=0, le=MAX_SEED)


class Sampler:
    """The shipped digits model as the service loads it, answering a batch of requests in one forward pass."""

    def __init__(self) -> None:
        torch.set_num_threads(worker_threads())
        paths = ModelPaths(checkpoint=SETTINGS.checkpoint, classifier=SETTINGS.classifier)
        self.service = ModelService.load(paths, torch.device("cpu"), SETTINGS.block_rows)

    def answers(self, bodies: Sequence[SampleBody]) -> list[dict[str, Any]]:
        """Each request's /v1/sample answer; every image of the batch decoded in one pass."""
        latents = [self.service.seeded_latents(body.seed, body.n, TEMPERATURE) for body in bodies]
        jobs = [
            DecodeJob(class_labels(body.label, body.n), z, png_base64_tiles)
            for body, z in zip(bodies, latents, strict=True)
        ]
        images = self.service.decode_batch(jobs)
        return [
            SampleResponse(
                model=self.service.name,
                label=body.label,
                digit=body.label,
                class_name=self.service.class_names[body.label],
                n=body.n,
                seed=body.seed,
                temperature=TEMPERATURE,
                draws=body.n,
                images=encoded,
                latents=z.tolist(),
            ).model_dump(mode="json")
            for body, z, encoded in zip(bodies, latents, images, strict=True)
        ]
