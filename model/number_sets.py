"""Datasets of written numbers, for training text recognisers: `cvae-generate --numbers` and
GET /v1/dataset?numbers=..., `count` images of numbers, each written in a hand of its own as model/numbers.py
writes one, labelled with its digits.

The same arguments give the same images, whoever asks and however the work is cut:
- number i depends on (seed, i) alone: numpy's generator of SeedSequence((seed, i)) draws its length
  (uniform in min_length..max_length), its digits (each uniform in 0-9, leading zeros included: a recogniser
  reads digit strings, not values) and its style seed; so the first K numbers are the same for any
  count >= K;
- number i is what POST /v1/number writes for its text and style seed at the temperature, 28 pixels high:
  the style is the first latent /v1/sample would draw for that seed, and each digit's variation is
  Hand.drawn from it, all on the CPU;
- the digits of several numbers are decoded together, up to chunk_rows at a time, through the caller's
  `decode(labels, z)`, which runs the decoder blockwise (model/inference.py), each at the step the caller's
  `foresee` chose for it (model/numbers.py): no tile and no choice depends on its chunk.

Pure numpy and PyTorch: the caller brings the networks, run directly (cvae-generate) or through the
service's batchers (app/routes/dataset.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import KW_ONLY, dataclass

import numpy as np
import torch

from model.cvae import CVAE
from model.legible import LatentStream
from model.numbers import (
    GAP,
    MARGIN,
    MAX_DIGITS,
    TILE,
    Decode,
    Foresee,
    Hand,
    Written,
    number_labels,
)
from model.synthetic import CHUNK_ROWS, check_seed_and_temperature

# The lengths a set's numbers have unless asked otherwise: 1 to 8 digits.
MIN_LENGTH, MAX_LENGTH = 1, 8
# Style seeds stay below 2^53, the service's bound on seeds (app/schemas.py), so /v1/number takes them.
STYLE_SEEDS = 2**53


@dataclass(frozen=True)
class NumberDraw:
    """What number i of a set is: its digits, and the seed of its style and of its digits' variation."""

    text: str
    style_seed: int


@dataclass(frozen=True)
class NumberSetSpec:
    """What a set of numbers asks for: `count` numbers of min_length to max_length digits, from `seed`, in
    styles drawn at `temperature`."""

    count: int
    seed: int
    temperature: float = 1.0
    min_length: int = MIN_LENGTH
    max_length: int = MAX_LENGTH

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"numbers must be at least 1 (got {self.count})")
        check_seed_and_temperature(self.seed, self.temperature)
        if not 1 <= self.min_length <= self.max_length <= MAX_DIGITS:
            raise ValueError(
                f"lengths must be 1 <= min <= max <= {MAX_DIGITS} digits "
                f"(got {self.min_length} to {self.max_length})"
            )

    @property
    def width(self) -> int:
        """The widest a number of max_length digits can be written (Hand.compose: margins, tiles cut to their
        ink, the widest gaps): the width of the .npz's rows, known before the first number is decoded, so
        that it can be streamed and its first K rows are the same for any count >= K."""
        return 2 * MARGIN + self.max_length * TILE + (self.max_length - 1) * GAP[1]

    def number(self, index: int) -> NumberDraw:
        """Number `index`'s text and style seed, from numpy's generator of SeedSequence((seed, index))."""
        rng = np.random.default_rng(np.random.SeedSequence((self.seed, index)))
        length = int(rng.integers(self.min_length, self.max_length + 1))
        text = "".join(str(digit) for digit in rng.integers(0, 10, size=length))
        return NumberDraw(text, int(rng.integers(STYLE_SEEDS)))


@dataclass(frozen=True)
class NumberChunk:
    """Consecutive numbers of a set: what each is, and each written (uint8 (28, width), its digits' boxes)."""

    numbers: list[NumberDraw]
    written: list[Written]

    def __len__(self) -> int:
        return len(self.numbers)


@dataclass(eq=False)
class NumberSet:
    """The numbers of `spec`, as NumberChunks in order, each of at most chunk_rows digits (or one number)."""

    cvae: CVAE
    spec: NumberSetSpec
    decode: Decode
    foresee: Foresee | None
    _: KW_ONLY
    chunk_rows: int = CHUNK_ROWS

    @property
    def size(self) -> int:
        return self.spec.count

    def __iter__(self) -> Iterator[NumberChunk]:
        draws = (self.spec.number(index) for index in range(self.spec.count))
        for numbers in _grouped(draws, self.chunk_rows):
            hands = [Hand.drawn(n.style_seed, len(n.text), self.cvae.cfg.latent_dim) for n in numbers]
            labels = [number_labels(n.text) for n in numbers]
            z = [
                hand.chosen(self._style(n.style_seed), digits, self.foresee)
                for hand, n, digits in zip(hands, numbers, labels, strict=True)
            ]
            tiles = np.split(
                self.decode(torch.cat(labels), torch.cat(z)), np.cumsum([len(d) for d in labels])[:-1]
            )
            yield NumberChunk(numbers, [hand.compose(t) for hand, t in zip(hands, tiles, strict=True)])

    def _style(self, style_seed: int) -> torch.Tensor:
        """The style z, (latent_dim,): the seed's first latent at the temperature, as /v1/number draws it."""
        return LatentStream(self.cvae, style_seed, 1, self.spec.temperature).take(1)[0]


def _grouped(draws: Iterable[NumberDraw], rows: int) -> Iterator[list[NumberDraw]]:
    """Consecutive numbers whose digits come to at most `rows`; a longer number alone."""
    group: list[NumberDraw] = []
    digits = 0
    for draw in draws:
        if group and digits + len(draw.text) > rows:
            yield group
            group, digits = [], 0
        group.append(draw)
        digits += len(draw.text)
    if group:
        yield group
