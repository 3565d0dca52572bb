"""What the routes await: the ModelService behind one micro-batcher per network, in one model thread.

All inference runs in a single thread (torch's own intra-op threads aside), so concurrent requests never
fight over the cores with their own small forward passes: their work is gathered (app/batching.py) and each
network runs once per batch. Uploads are decoded and preprocessed first in a small pool of their own
(Pillow releases the GIL while it decodes), at most one per core at a time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
from anyio import CapacityLimiter, to_thread
from torch import Tensor

from app.batching import MicroBatcher
from app.service import AnalysisJob, DecodeJob, ModelService, UploadAnalysis
from app.settings import Settings
from model.preprocess import preprocess_upload

Encoded = TypeVar("Encoded")


class BatchedModels:
    """The loaded models as awaitable operations; start() loads them, close() drains and stops."""

    def __init__(self, service: ModelService, executor: ThreadPoolExecutor, settings: Settings) -> None:
        self.service = service
        self.max_pixels = settings.max_pixels
        self._executor = executor
        options = {
            "max_rows": settings.batch_max_rows,
            "max_wait": settings.batch_window_ms / 1000,
            "enabled": settings.batching,
        }
        self.decoder = MicroBatcher(service.decode_batch, executor, name="decoder", **options)
        self.uploads = MicroBatcher(service.analyse_batch, executor, name="uploads", **options)
        self._preprocessing = CapacityLimiter(os.cpu_count() or 1)

    @classmethod
    async def start(cls, settings: Settings, service: ModelService | None = None) -> BatchedModels:
        """Load (unless given, as cvae-serve does) and warm up the models in the model thread, where every
        later pass runs."""
        import sys

        sys.setswitchinterval(float(os.environ.get("SWI", "0.005")))
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cvae-model")
        loop = asyncio.get_running_loop()
        try:
            if service is None:
                service = await loop.run_in_executor(executor, ModelService.load, settings)
            await loop.run_in_executor(executor, service.warm_up)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(service, executor, settings)

    async def close(self) -> None:
        """Refuse new work, fail queued work with BatcherClosedError, finish the running batches."""
        await asyncio.gather(self.decoder.close(), self.uploads.close())
        self._executor.shutdown(wait=True)

    @property
    def latent_dim(self) -> int:
        return self.service.latent_dim

    def seeded_latents(self, seed: int, n: int, temperature: float) -> Tensor:
        return self.service.seeded_latents(seed, n, temperature)

    async def decode(self, labels: Tensor, z: Tensor, encode: Callable[[np.ndarray], Encoded]) -> Encoded:
        """encode(uint8 tiles) of the images of (labels, z), decoded in a batch with concurrent requests."""
        return await self.decoder.submit(DecodeJob(labels, z, encode), rows=len(z))

    async def analyse(self, data: bytes, digit: int | None) -> UploadAnalysis:
        """An upload preprocessed, its digit decided unless given, encoded and reconstructed.

        Raises UploadError for an upload that is not a usable image."""
        x = await to_thread.run_sync(preprocess_upload, data, self.max_pixels, limiter=self._preprocessing)
        return await self.uploads.submit(AnalysisJob(x, digit))

    def describe(self) -> dict[str, Any]:
        return self.service.describe()
