"""What the routes await: each served model's ModelService behind one micro-batcher per network, all in a
few model threads.

All inference runs in the model threads (CVAE_MODEL_THREADS, one per core by default, each running one
batch at a time), so concurrent requests never fight over the cores with their own small forward passes:
their work is gathered (app/batching.py) and each network runs once per batch. Uploads are decoded and
preprocessed first in a small pool of their own (Pillow releases the GIL while it decodes), at most one per
core at a time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import numpy as np
from anyio import CapacityLimiter, to_thread
from torch import Tensor

from app.batching import MicroBatcher
from app.memory import release_free_memory
from app.service import AnalysisJob, DecodeJob, JudgeJob, ModelService, UploadAnalysis, load_services
from app.settings import Settings
from model.cvae import class_labels
from model.legible import Judged, LatentStream, LegibleSearch
from model.numbers import Foresee
from model.preprocess import prepare_upload
from model.reading import find_digits

Encoded = TypeVar("Encoded")
TRIM_INTERVAL_S = 1.0


def model_threads(settings: Settings) -> int:
    return settings.model_threads or settings.cpus_per_worker()


class UnknownModelError(LookupError):
    """A request named a model this service does not serve (404)."""


@dataclass(frozen=True)
class Samples(Generic[Encoded]):
    """What a sample request gets: its encoded images, their latents, the draws of the seed's stream they
    took (n without min_confidence), and the images decoded to find them (for the metrics)."""

    encoded: Encoded
    z: Tensor
    draws: int
    decoded: int


@dataclass(frozen=True)
class SampleAsk:
    """What a sample request asks of a model: n images of a class from a seed's latents at a temperature,
    each read as that class with at least min_confidence (None: any)."""

    label: int
    seed: int
    n: int
    temperature: float
    min_confidence: float | None


@dataclass(frozen=True)
class Found:
    """A digit found in an upload of a number: its analysis, and its box in the upload's pixels."""

    analysis: UploadAnalysis
    box: list[int]


class BatchedModels:
    """One served model's networks as awaitable operations; close() drains its batchers."""

    def __init__(self, service: ModelService, executor: ThreadPoolExecutor, settings: Settings) -> None:
        self.service = service
        self.max_pixels = settings.max_pixels
        self.max_draws = settings.max_draws
        self._chunk_rows = (settings.block_rows, settings.batch_max_rows)
        options = {
            "max_rows": settings.batch_max_rows,
            "max_wait": settings.batch_window_ms / 1000,
            "enabled": settings.batching,
            "concurrency": model_threads(settings),
        }
        self.decoder = MicroBatcher(service.decode_batch, executor, name="decoder", **options)
        self.uploads = MicroBatcher(service.analyse_batch, executor, name="uploads", **options)
        self.judge = MicroBatcher(service.judge_batch, executor, name="judge", **options)
        self.classifier = MicroBatcher(service.classify_batch, executor, name="classifier", **options)
        self._preprocessing = CapacityLimiter(settings.cpus_per_worker())
        self.last_upload = -math.inf  # time.monotonic() when an upload last finished

    async def close(self) -> None:
        """Refuse new work, fail queued work with BatcherClosedError, finish the running batches."""
        await asyncio.gather(*(batcher.close() for batcher in self.batchers))

    @property
    def batchers(self) -> tuple[MicroBatcher, ...]:
        return (self.decoder, self.uploads, self.judge, self.classifier)

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def num_classes(self) -> int:
        return self.service.cvae.cfg.num_classes

    @property
    def class_names(self) -> list[str]:
        return self.service.class_names

    @property
    def latent_dim(self) -> int:
        return self.service.latent_dim

    def seeded_latents(self, seed: int, n: int, temperature: float) -> Tensor:
        return self.service.seeded_latents(seed, n, temperature)

    @property
    def foresee(self) -> Foresee | None:
        return self.service.foresee

    async def decode(self, labels: Tensor, z: Tensor, encode: Callable[[np.ndarray], Encoded]) -> Encoded:
        """encode(uint8 tiles) of the images of (labels, z), decoded in a batch with concurrent requests."""
        return await self.decoder.submit(DecodeJob(labels, z, encode), rows=len(z))

    async def judged(self, labels: Tensor, z: Tensor) -> Judged:
        """The images of (labels, z) and the classifier's reading of them, in a batch with concurrent
        requests."""
        return await self.judge.submit(JudgeJob(labels, z), rows=len(z))

    async def sample(self, ask: SampleAsk, encode: Callable[[np.ndarray], Encoded]) -> Samples[Encoded]:
        """n images of `label` from the seed's latents; with min_confidence, the first n of its stream that
        the classifier reads as `label` with at least that probability (model/legible.py), each chunk judged
        in a batch with concurrent requests, at most max_draws of them. Raises TooFewLegibleError."""
        label, seed, n, temperature = ask.label, ask.seed, ask.n, ask.temperature
        if ask.min_confidence is None:
            z = self.seeded_latents(seed, n, temperature)
            return Samples(await self.decode(class_labels(label, n), z, encode), z, n, n)
        min_chunk, max_chunk = self._chunk_rows
        stream = LatentStream(self.service.cvae, seed, n, temperature)
        search = LegibleSearch(stream, n, ask.min_confidence, self.max_draws, min_chunk, max_chunk)
        tiles: list[np.ndarray] = []
        while (z := search.next_chunk()) is not None:
            judged = await self.judged(class_labels(label, len(z)), z)
            tiles.append(judged.tiles[search.keep(judged.confidence).numpy()])
        accepted = search.accepted()
        encoded = await to_thread.run_sync(encode, np.concatenate(tiles))
        return Samples(encoded, accepted, search.draws, search.drawn)

    async def analyse(self, data: bytes, digit: int | None) -> UploadAnalysis:
        """An upload preprocessed, its digit decided unless given, encoded and reconstructed.

        Raises UploadError for an upload that is not a usable image."""
        try:
            prepared = await to_thread.run_sync(
                prepare_upload, data, self.max_pixels, limiter=self._preprocessing
            )
            analysis = await self.uploads.submit(AnalysisJob(prepared.x, digit))
            return replace(analysis, notes=list(prepared.notes))
        finally:
            self.last_upload = time.monotonic()

    async def read(self, data: bytes) -> list[Found]:
        """The digits of an upload of a written number, left to right (model/reading.py): the candidates
        read by the classifier in one batch, the best cutting's digits analysed as uploads are, each with
        its box. Raises UploadError for an upload that is not a usable image."""
        try:
            found = await to_thread.run_sync(find_digits, data, self.max_pixels, limiter=self._preprocessing)
            classified = await self.classifier.submit(found.crops, rows=len(found.crops))
            chosen = found.read(classified.probabilities, classified.ood_scores)
            analyses = await asyncio.gather(
                *(self.uploads.submit(AnalysisJob(found.crops[i : i + 1], None)) for i in chosen)
            )
            return [Found(analysis, found.boxes[i]) for analysis, i in zip(analyses, chosen, strict=True)]
        finally:
            self.last_upload = time.monotonic()

    def describe(self) -> dict[str, Any]:
        return self.service.describe()


class ServedModels:
    """Every served model by name, the default first, sharing the model threads and, process-wide, the
    giving back of the memory that uploads freed."""

    def __init__(self, models: list[BatchedModels], executor: ThreadPoolExecutor) -> None:
        self.by_name = {model.name: model for model in models}
        self.default = models[0]
        self._executor = executor
        self._trimmer = asyncio.get_running_loop().create_task(self._trim_after_uploads())

    @classmethod
    async def start(cls, settings: Settings, services: list[ModelService] | None = None) -> ServedModels:
        """Load (unless given, as cvae-serve does) and warm up every model in the model threads, where every
        later pass runs."""
        executor = ThreadPoolExecutor(max_workers=model_threads(settings), thread_name_prefix="cvae-model")
        loop = asyncio.get_running_loop()
        try:
            if services is None:
                services = await loop.run_in_executor(executor, load_services, settings)
            for service in services:
                await loop.run_in_executor(executor, service.warm_up)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls([BatchedModels(service, executor, settings) for service in services], executor)

    def get(self, name: str | None) -> BatchedModels:
        """The model called `name`; the default for None."""
        if name is None:
            return self.default
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(self.by_name)
            raise UnknownModelError(f"unknown model {name!r}; this service has: {known}") from None

    def __iter__(self) -> Iterator[BatchedModels]:
        return iter(self.by_name.values())

    async def close(self) -> None:
        """Every model's batchers drained (queued work refused), then the model threads stopped."""
        self._trimmer.cancel()
        await asyncio.gather(*(model.close() for model in self))
        self._executor.shutdown(wait=True)

    async def _trim_after_uploads(self) -> None:
        """Once a second while uploads come in, to any model, and twice after the last one (by then its
        request has freed its body too), give the memory they freed back to the system (app/memory.py)."""
        while True:
            await asyncio.sleep(TRIM_INTERVAL_S)
            last_upload = max(model.last_upload for model in self)
            if time.monotonic() - last_upload < 2 * TRIM_INTERVAL_S:
                await to_thread.run_sync(release_free_memory)
