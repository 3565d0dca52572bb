"""Synthetic labelled datasets drawn from a CVAE: the images of `cvae-generate` and GET /v1/dataset.

The same arguments give the same images, whoever asks and however the work is cut:
- order: class 0's `per_class` images, then class 1's, and so on; within a class, in the order of its stream;
- each class has a latent stream of its own (model/legible.py's LatentStream, drawn in fixed blocks from
  the start), seeded from (seed, label) through numpy's SeedSequence: a class's images depend neither on
  the chunks they are decoded in nor on the other classes, and its first N images are the same for every
  per_class >= N;
- with min_confidence, a class's images are the first per_class of its stream that the classifier reads as
  that class with at least that probability, as /v1/sample picks them (model/legible.py).

The caller brings the networks: `decode(labels, z)` gives uint8 tiles and `judge(labels, z)` a Judged, run
directly (cvae-generate) or through the service's batchers (app/routes/dataset.py). Both run them blockwise
(model/inference.py), so every row comes out as the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field

import numpy as np
from torch import Tensor

from model.cvae import CVAE, class_labels
from model.legible import Judged, LatentStream, LegibleSearch, TooFewLegibleError

# The same bound as the service's temperature (app/schemas.py): beyond it the prior's tails give noise.
MAX_TEMPERATURE = 3.0
# Rows decoded at a time: a progress step, and the service's batch size (CVAE_BATCH_MAX_ROWS) by default.
CHUNK_ROWS = 256

Decode = Callable[[Tensor, Tensor], np.ndarray]
Judge = Callable[[Tensor, Tensor], Judged]


def check_seed_and_temperature(seed: int, temperature: float) -> None:
    """What every synthetic dataset asks of its seed and temperature (the digits' and the numbers'); raises
    ValueError."""
    if seed < 0:
        raise ValueError(f"seed must be at least 0 (got {seed})")
    if not 0 < temperature <= MAX_TEMPERATURE:
        raise ValueError(f"temperature must be > 0 and <= {MAX_TEMPERATURE:g} (got {temperature})")


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset asks for: per_class images of every class, from `seed`'s streams at `temperature`,
    each read as its class with at least min_confidence (None: every image, as drawn)."""

    per_class: int
    seed: int
    temperature: float = 1.0
    min_confidence: float | None = None

    def __post_init__(self) -> None:
        if self.per_class < 1:
            raise ValueError(f"per class must be at least 1 (got {self.per_class})")
        check_seed_and_temperature(self.seed, self.temperature)
        if self.min_confidence is not None and not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min confidence must be between 0 and 1 (got {self.min_confidence})")

    def labels(self, num_classes: int) -> np.ndarray:
        """Every image's label, in the dataset's order, as uint8 (what IDX and MNIST loaders expect)."""
        if num_classes > 256:
            raise ValueError(f"labels are stored as bytes: at most 256 classes (the model has {num_classes})")
        return np.repeat(np.arange(num_classes, dtype=np.uint8), self.per_class)


@dataclass(frozen=True)
class Chunk:
    """Consecutive images of one class, uint8 (n, H, W), white on black."""

    label: int
    tiles: np.ndarray


def class_seed(seed: int, label: int) -> int:
    """The seed of class `label`'s stream: SeedSequence mixes (seed, label), so that no two classes, and no
    class of two datasets, share a stream (seed + label would give seed 1's class 0 to seed 0's class 1)."""
    return int(np.random.SeedSequence((seed, label)).generate_state(1, np.uint64)[0])


@dataclass(eq=False)
class Synthesis:
    """The images of `spec`, as Chunks in the dataset's order, for iterating once; `draws` holds each
    finished class's draws from its stream (per_class without min_confidence). Raises TooFewLegibleError
    when a class has fewer than per_class images that pass within max_draws draws."""

    cvae: CVAE
    spec: DatasetSpec
    class_names: list[str]
    decode: Decode
    judge: Judge | None = None
    _: KW_ONLY
    max_draws: int
    chunk_rows: int = CHUNK_ROWS
    min_chunk_rows: int = 1
    draws: list[int] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.spec.min_confidence is not None and self.judge is None:
            raise ValueError("min_confidence needs a classifier to judge the images")

    @property
    def num_classes(self) -> int:
        return self.cvae.cfg.num_classes

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.cvae.cfg.image_size, self.cvae.cfg.image_size

    @property
    def size(self) -> int:
        return self.num_classes * self.spec.per_class

    def labels(self) -> np.ndarray:
        return self.spec.labels(self.num_classes)

    def __iter__(self) -> Iterator[Chunk]:
        for label in range(self.num_classes):
            stream = LatentStream(self.cvae, class_seed(self.spec.seed, label), 0, self.spec.temperature)
            if self.spec.min_confidence is None:
                yield from self._drawn(label, stream)
            else:
                yield from self._legible(label, stream)

    def _drawn(self, label: int, stream: LatentStream) -> Iterator[Chunk]:
        per_class = self.spec.per_class
        for start in range(0, per_class, self.chunk_rows):
            z = stream.take(min(self.chunk_rows, per_class - start))
            yield Chunk(label, self.decode(class_labels(label, len(z)), z))
        self.draws.append(per_class)

    def _legible(self, label: int, stream: LatentStream) -> Iterator[Chunk]:
        assert self.judge is not None and self.spec.min_confidence is not None  # checked in __post_init__
        search = LegibleSearch(
            stream,
            self.spec.per_class,
            self.spec.min_confidence,
            self.max_draws,
            self.min_chunk_rows,
            self.chunk_rows,
        )
        while (z := search.next_chunk()) is not None:
            judged = self.judge(class_labels(label, len(z)), z)
            kept = judged.tiles[search.keep(judged.confidence).numpy()]
            if len(kept):
                yield Chunk(label, kept)
        try:
            search.accepted()
        except TooFewLegibleError as error:
            raise TooFewLegibleError(f"{error}, for class {label} ({self.class_names[label]})") from None
        self.draws.append(search.draws)
