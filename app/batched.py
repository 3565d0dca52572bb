"""What the routes await: the ModelService behind one micro-batcher per network, in a few model threads.

All inference runs in the model threads (CVAE_MODEL_THREADS, one per core by default, each running one
batch at a time), so concurrent requests never fight over the cores with their own small forward passes:
their work is gathered (app/batching.py) and each network runs once per batch. Uploads are decoded and
preprocessed first in a small pool of their own (Pillow releases the GIL while it decodes), at most one per
core at a time.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
from anyio import CapacityLimiter, to_thread
from torch import Tensor

from app.batching import MicroBatcher
from app.memory import release_free_memory
from app.service import AnalysisJob, DecodeJob, ModelService, UploadAnalysis
from app.settings import Settings
from model.preprocess import preprocess_upload

Encoded = TypeVar("Encoded")
TRIM_INTERVAL_S = 1.0


def model_threads(settings: Settings) -> int:
    return settings.model_threads or os.cpu_count() or 1


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
            "concurrency": model_threads(settings),
        }
        self.decoder = MicroBatcher(service.decode_batch, executor, name="decoder", **options)
        self.uploads = MicroBatcher(service.analyse_batch, executor, name="uploads", **options)
        self._preprocessing = CapacityLimiter(os.cpu_count() or 1)
        self._last_upload = -math.inf  # time.monotonic() when an upload last finished
        self._trimmer = asyncio.get_running_loop().create_task(self._trim_after_uploads())

    @classmethod
    async def start(cls, settings: Settings, service: ModelService | None = None) -> BatchedModels:
        """Load (unless given, as cvae-serve does) and warm up the models in the model thread, where every
        later pass runs."""
        executor = ThreadPoolExecutor(max_workers=model_threads(settings), thread_name_prefix="cvae-model")
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
        self._trimmer.cancel()
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
        try:
            x = await to_thread.run_sync(
                preprocess_upload, data, self.max_pixels, limiter=self._preprocessing
            )
            return await self.uploads.submit(AnalysisJob(x, digit))
        finally:
            self._last_upload = time.monotonic()

    def describe(self) -> dict[str, Any]:
        return self.service.describe()

    async def _trim_after_uploads(self) -> None:
        """Once a second while uploads come in, and twice after the last one (by then its request has freed
        its body too), give the memory they freed back to the system (app/memory.py)."""
        while True:
            await asyncio.sleep(TRIM_INTERVAL_S)
            if time.monotonic() - self._last_upload < 2 * TRIM_INTERVAL_S:
                await to_thread.run_sync(release_free_memory)
