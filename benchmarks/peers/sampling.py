"""What every peer serves: /v1/sample's answer for {label, n, seed}, made by the project's own code.

The peers must answer exactly what cvae-serve answers, or the comparison measures different work: the same
checkpoint run as the service runs it (blockwise, channels-last: model/inference.py), the same seeded draws
(LatentStream), the same uint8 conversion and PNG/base64 encoder (app/encoding.py), and the same JSON fields.
Only the digits model is loaded: a peer needs nothing else for these requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

from app.encoding import png_base64_tiles
from app.schemas import MAX_SEED
from app.settings import Settings
from benchmarks.peers.config import worker_threads
from model.checkpoint import class_names, load_checkpoint, model_name
from model.cvae import CVAE, class_labels
from model.images import to_uint8
from model.inference import DEFAULT_BLOCK_ROWS, cvae_inference_form
from model.legible import LatentStream

MAX_N = Settings().max_n  # cvae-serve's limit on one request
TEMPERATURE = 1.0


class SampleBody(BaseModel):
    """The request: what the benchmark sends to cvae-serve's POST /v1/sample too."""

    label: int = Field(ge=0, le=9)
    n: int = Field(1, ge=1, le=MAX_N)
    seed: int = Field(ge=0, le=MAX_SEED)


class Sampler:
    """The digits CVAE of the shipped settings, answering a batch of requests in one forward pass."""

    def __init__(self) -> None:
        torch.set_num_threads(worker_threads())
        checkpoint = load_checkpoint(Settings().checkpoint, "cvae", "cpu")
        self.cvae: CVAE = cvae_inference_form(checkpoint.model, DEFAULT_BLOCK_ROWS)  # type: ignore[arg-type]
        self.name = model_name(checkpoint.config, checkpoint.path)
        self.class_names = class_names(checkpoint.config)

    @torch.inference_mode()
    def answers(self, bodies: Sequence[SampleBody]) -> list[dict[str, Any]]:
        """Each request's /v1/sample answer; every image of the batch decoded in one pass."""
        latents = [LatentStream(self.cvae, body.seed, body.n, TEMPERATURE).take(body.n) for body in bodies]
        labels = torch.cat([class_labels(body.label, body.n) for body in bodies])
        tiles = to_uint8(self.cvae.images(torch.cat(latents), labels))
        ends = np.cumsum([body.n for body in bodies])[:-1]
        return [
            self._answer(body, z, part)
            for body, z, part in zip(bodies, latents, np.split(tiles, ends), strict=True)
        ]

    def _answer(self, body: SampleBody, z: torch.Tensor, tiles: np.ndarray) -> dict[str, Any]:
        return {
            "model": self.name,
            "label": body.label,
            "digit": body.label,
            "class_name": self.class_names[body.label],
            "n": body.n,
            "seed": body.seed,
            "temperature": TEMPERATURE,
            "draws": body.n,
            "images": png_base64_tiles(tiles),
            "latents": z.tolist(),
        }
