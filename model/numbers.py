"""A number written in one hand: every digit decoded from one style z, then set side by side with the small
irregularities of writing, so that it looks written, not stamped.

The CVAE keeps what is written (the label) apart from how (z): the same z under ten labels is one writer's
ten digits. A number takes one style z and gives each digit a little seeded variation of its own: its z
moved by a small step (Hand.latents), and its tile scaled, slanted and lifted or lowered a pixel, with a
gap before it that varies (Hand.compose). A writer avoids a stroke that would come out unreadable: each
digit has TRIES small steps, and takes the first that the legibility network (model/legibility.py) foresees
the classifier reading as that digit (Hand.chosen), so the number is decoded once. Every draw comes from
numpy's generator of the seed, one digit after another, and each digit's choice depends on its own steps
alone, so the same request gives the same bytes, and a number's first k digits are written as the first k of
any longer number with the same seed.

Shared by the service (/v1/number), cvae-generate --numbers and make numbers; the caller brings the
networks (the decoder, and the legibility network when the checkpoint has one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

# decode(labels, z): the uint8 tiles (n, 28, 28) of (labels, z).
Decode = Callable[[Tensor, Tensor], np.ndarray]
# foresee(labels, z): the probability that each row's image reads as its label (model/legibility.py),
# each row's independent of the rows asked with it.
Foresee = Callable[[Tensor, Tensor], Tensor]

MAX_DIGITS = 16
# The height every digit is decoded at; an image of another height is this one resized.
TILE = 28
MIN_HEIGHT, MAX_HEIGHT = TILE, 8 * TILE
# A pixel at least this bright is ink (uint8): what a digit's box is the bounds of.
INK = 32
# The per-digit variation: each digit's z moves by a step of this standard deviation from the style.
Z_STEP = 0.15
# A digit is written at the first of TRIES steps foreseen legible with at least this probability (else the
# step foreseen likeliest to be).
TRIES = 4
FORESEEN = 0.5
SCALE = (0.92, 1.05)
SLANT = 0.06  # horizontal shear per row, either way
BASELINE = 1  # pixels up or down
GAP = (1, 4)  # pixels between one digit's ink and the next, both ends included
MARGIN = 4  # pixels of black left and right, as MNIST leaves around its digits

# What the digits models' classes must be, in order, for a model to write numbers.
DIGIT_NAMES = [str(digit) for digit in range(10)]


def writes_numbers(class_names: list[str]) -> bool:
    """Whether a model's classes are the ten digits, label d being the digit d."""
    return class_names == DIGIT_NAMES


def number_labels(text: str) -> Tensor:
    """The labels of a number's digits, left to right; ValueError for anything but 1 to MAX_DIGITS digits."""
    if not 1 <= len(text) <= MAX_DIGITS or not (text.isascii() and text.isdigit()):
        raise ValueError(f"a number is 1 to {MAX_DIGITS} of the digits 0-9 (got {text!r})")
    return torch.tensor([int(character) for character in text])


@dataclass(frozen=True)
class Written:
    """A written number: uint8 (height, width), white on black, and each digit's ink box [x0, y0, x1, y1]
    (x1 and y1 exclusive, as Pillow's crop takes a box), left to right."""

    image: np.ndarray
    boxes: list[list[int]]


@dataclass(frozen=True)
class Hand:
    """One number's variation, digit by digit: the step of each digit's z from the style, its scale, slant,
    shift down (pixels) and the gap before it."""

    steps: np.ndarray  # (n, TRIES, latent_dim)
    scales: np.ndarray
    slants: np.ndarray
    shifts: np.ndarray
    gaps: np.ndarray

    @classmethod
    def drawn(cls, seed: int, n: int, latent_dim: int) -> Hand:
        """The variation of a number of n digits, drawn digit after digit from the seed's generator."""
        rng = np.random.default_rng(seed)
        draws = [
            (
                rng.standard_normal((TRIES, latent_dim)),
                rng.uniform(*SCALE),
                rng.uniform(-SLANT, SLANT),
                rng.integers(-BASELINE, BASELINE + 1),
                rng.integers(GAP[0], GAP[1] + 1),
            )
            for _ in range(n)
        ]
        steps, scales, slants, shifts, gaps = (np.array(column) for column in zip(*draws, strict=True))
        return cls(steps, scales, slants, shifts, gaps)

    def latents(
        self, style: Tensor, digits: np.ndarray | None = None, tries: np.ndarray | None = None
    ) -> Tensor:
        """The z of each of `digits` (default: all) at its try (default: the first): the style (latent_dim,)
        moved by that try's small step."""
        digits = np.arange(len(self.steps)) if digits is None else digits
        tries = np.zeros(len(digits), int) if tries is None else tries
        return style.float()[None] + Z_STEP * torch.from_numpy(self.steps[digits, tries]).float()

    def chosen(self, style: Tensor, labels: Tensor, foresee: Foresee | None) -> Tensor:
        """Each digit's z (n, latent_dim): its first step foreseen legible with at least FORESEEN, else the
        step foreseen likeliest to be; without a foresee, its first step."""
        n = len(labels)
        if foresee is None:
            return self.latents(style)
        digits = np.repeat(np.arange(n), TRIES)
        tries = np.tile(np.arange(TRIES), n)
        likely = foresee(labels[digits], self.latents(style, digits, tries)).reshape(n, TRIES)
        legible = likely >= FORESEEN
        choice = torch.where(legible.any(dim=1), legible.float().argmax(dim=1), likely.argmax(dim=1))
        return self.latents(style, np.arange(n), choice.numpy())

    def compose(self, tiles: np.ndarray, height: int = TILE) -> Written:
        """The digits' uint8 tiles (n, 28, 28), each varied and cut to its ink, set left to right."""
        placed = [
            _varied(tile, scale, slant, shift)
            for tile, scale, slant, shift in zip(tiles, self.scales, self.slants, self.shifts, strict=True)
        ]
        spans = [_ink_span(tile.max(axis=0)) for tile in placed]
        widths = [end - start for start, end in spans]
        lefts = np.cumsum([MARGIN, *[width + gap for width, gap in zip(widths, self.gaps[1:], strict=False)]])
        image = np.zeros((TILE, int(lefts[-1] + widths[-1] + MARGIN)), dtype=np.uint8)
        boxes = []
        for tile, (start, end), left in zip(placed, spans, lefts, strict=True):
            target = image[:, left : left + end - start]
            np.maximum(target, tile[:, start:end], out=target)
            top, bottom = _ink_span(tile.max(axis=1))
            boxes.append([int(left), top, int(left + end - start), bottom])
        return _resized(image, boxes, height)


def write(
    hand: Hand, style: Tensor, labels: Tensor, decode: Decode, foresee: Foresee | None, height: int = TILE
) -> Written:
    """A number written legibly: each digit at its chosen step (Hand.chosen), decoded in one pass."""
    return hand.compose(decode(labels, hand.chosen(style, labels, foresee)), height)


def _varied(tile: np.ndarray, scale: float, slant: float, shift: int) -> np.ndarray:
    """The tile scaled about its centre, slanted (rows below the centre moved right for slant > 0) and
    moved down by `shift` pixels (Pillow's affine map takes each output pixel to its source)."""
    centre = TILE / 2
    source = (
        1 / scale,
        -slant / scale,
        centre - centre / scale + slant * (centre + shift) / scale,
        0.0,
        1 / scale,
        centre - (centre + shift) / scale,
    )
    image = Image.fromarray(tile).transform(
        (TILE, TILE), Image.Transform.AFFINE, source, Image.Resampling.BILINEAR
    )
    return np.asarray(image)


def _ink_span(profile: np.ndarray) -> tuple[int, int]:
    """The first and one past the last index where the profile reaches INK; the middle pixel for none."""
    inked = np.flatnonzero(profile >= INK)
    if len(inked) == 0:
        middle = len(profile) // 2
        return middle, middle + 1
    return int(inked[0]), int(inked[-1]) + 1


def _resized(image: np.ndarray, boxes: list[list[int]], height: int) -> Written:
    """The number at `height` pixels, its boxes scaled with it and rounded outwards."""
    if height == TILE:
        return Written(image, boxes)
    factor = height / TILE
    width = round(image.shape[1] * factor)
    resized = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
    scaled = [
        [math.floor(x0 * factor), math.floor(y0 * factor), math.ceil(x1 * factor), math.ceil(y1 * factor)]
        for x0, y0, x1, y1 in boxes
    ]
    return Written(resized, scaled)
