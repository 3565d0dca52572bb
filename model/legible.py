"""Legible samples (/v1/sample's min_confidence): the first n latents of a seed's stream whose image the
classifier reads as the asked class with probability >= min_confidence.

Shared by the service, which judges each chunk in its model threads in a batch with concurrent requests,
and by training/legible_report.py. An answer depends on the request alone: the stream is the same whatever
chunks it is judged in, every row is judged on its own (model/inference.py), and the n accepted are the
first n of the stream that pass, so `draws` (the stream's rows up to the n-th accepted) is too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from model.cvae import CVAE
from model.images import to_uint8

# Rows drawn at a time once the stream's first rows are used up.
STREAM_BLOCK = 64
# A later chunk is this much larger than the acceptance so far says is needed, so one more usually does.
CHUNK_MARGIN = 1.25


class TooFewLegibleError(ValueError):
    """Fewer than n latents passed within the most draws allowed."""


class LatentStream:
    """z ~ N(0, temperature^2 I) from one seeded generator, in order: the first `first` rows exactly as
    CVAE.sample_latents(first) draws them (what /v1/sample answers without min_confidence), then blocks of
    STREAM_BLOCK rows.

    A draw's rows depend on its size (torch.randn fills 16 values at a time once it draws 16 or more, so a
    (3, 4) draw is not the first rows of a (64, 4) one): the stream is drawn in these fixed blocks and take()
    hands out their rows, so it is the same whatever sizes are taken.
    """

    def __init__(self, cvae: CVAE, seed: int, first: int, temperature: float) -> None:
        self._cvae = cvae
        self._temperature = temperature
        self._generator = torch.Generator().manual_seed(seed)
        self._rows = self._draw(first)

    def _draw(self, n: int) -> Tensor:
        return self._cvae.sample_latents(n, self._temperature, self._generator, device="cpu")

    def take(self, n: int) -> Tensor:
        """The stream's next n rows, on the CPU."""
        blocks, rows = [self._rows], len(self._rows)
        while rows < n:
            blocks.append(self._draw(STREAM_BLOCK))
            rows += STREAM_BLOCK
        available = torch.cat(blocks) if len(blocks) > 1 else self._rows
        taken, self._rows = available[:n], available[n:]
        return taken


@dataclass(frozen=True)
class Judged:
    """Images as uint8 tiles (N, H, W), the classifier's probabilities (N, K) and of each row's label (N,)."""

    tiles: np.ndarray
    probabilities: Tensor
    confidence: Tensor

    def split(self, sizes: list[int]) -> list[Judged]:
        """One Judged per consecutive group of `sizes` rows."""
        ends = np.cumsum(sizes)[:-1].tolist()
        tiles = np.split(self.tiles, ends)
        probabilities = self.probabilities.split(sizes)
        confidence = self.confidence.split(sizes)
        return [Judged(*parts) for parts in zip(tiles, probabilities, confidence, strict=True)]


@torch.inference_mode()
def judge(cvae: CVAE, classifier: nn.Module, z: Tensor, labels: Tensor) -> Judged:
    """The images of (z, labels) and the classifier's reading of them, on `labels`' device.

    The classifier reads the uint8 pixels, not the decoder's unrounded output: a client that classifies the
    PNG it got sees the verdict the service judged. It reads them in float32 whatever precision the images
    were decoded in (the service may autocast its decoder), as it reads a client's PNG."""
    tiles = to_uint8(cvae.images(z, labels).float())
    x = torch.from_numpy(tiles).to(labels.device).float().div(255)[:, None]
    with torch.autocast(labels.device.type, enabled=False):
        probabilities = torch.softmax(classifier(x), dim=1)
    confidence = probabilities.gather(1, labels[:, None]).squeeze(1)
    return Judged(tiles, probabilities.cpu(), confidence.cpu())


def passes(confidence: Tensor, min_confidence: float) -> Tensor:
    """Which rows pass; compared in float64, so that 0.9 means 0.9 and not float32's 0.8999999762."""
    return confidence.double() >= min_confidence


@dataclass(eq=False)
class LegibleSearch:
    """The first n rows of `stream` whose confidence reaches min_confidence, among its first max_draws.

    The caller judges the chunks (decode and classify, through whatever batching it has):
    `while (z := search.next_chunk()) is not None: search.keep(confidence of z)`, then `search.accepted()`.
    The first chunk is n rows (often all of them pass), at most max_chunk; later ones are what the acceptance
    so far says is still needed, with a margin, at least min_chunk rows (a smaller one costs as much:
    model/inference.py) and at most max_chunk. The chunking changes the work done, never the answer.
    """

    stream: LatentStream
    n: int
    min_confidence: float
    max_draws: int
    min_chunk: int = 1
    max_chunk: int = 4096
    drawn: int = field(default=0, init=False)  # rows judged so far
    found: int = field(default=0, init=False)  # rows accepted so far
    # Rows of the stream up to the n-th accepted one (all rows judged until then).
    draws: int = field(default=0, init=False)
    _chunk: Tensor | None = field(default=None, init=False, repr=False)
    _accepted: list[Tensor] = field(default_factory=list, init=False, repr=False)

    @property
    def met(self) -> bool:
        return self.found == self.n

    def next_chunk(self) -> Tensor | None:
        """The next rows to judge; None once n have passed or max_draws rows were judged."""
        if self.met or self.drawn >= self.max_draws:
            return None
        if self.drawn == 0:
            size = min(self.n, self.max_chunk)
        else:
            expected = CHUNK_MARGIN * (self.n - self.found) * self.drawn / max(self.found, 1)
            size = min(max(math.ceil(expected), self.min_chunk), self.max_chunk)
        self._chunk = self.stream.take(min(size, self.max_draws - self.drawn))
        return self._chunk

    def keep(self, confidence: Tensor) -> Tensor:
        """Record the confidence of each row of the last chunk; returns the positions in it of the rows
        accepted, in order, no more than are still needed."""
        chunk = self._chunk
        if chunk is None or len(confidence) != len(chunk):
            raise ValueError("keep() needs one confidence per row of the chunk next_chunk() gave")
        accepted = passes(confidence, self.min_confidence).nonzero().flatten()[: self.n - self.found]
        self._accepted.append(chunk[accepted])
        self.found += len(accepted)
        self.draws = self.drawn + (int(accepted[-1]) + 1 if self.met else len(chunk))
        self.drawn += len(chunk)
        self._chunk = None
        return accepted

    def accepted(self) -> Tensor:
        """The n accepted latents, in stream order; raises TooFewLegibleError when fewer passed."""
        if not self.met:
            raise TooFewLegibleError(
                f"only {self.found} of the {self.n} images asked for reached min_confidence "
                f"{self.min_confidence:g} in {self.drawn} draws"
            )
        return torch.cat(self._accepted)
