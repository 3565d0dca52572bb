"""Uploads that come close to a digit but are none, for the outlier detector to flag (training/outliers.py).

- printed lines: blank squared or ruled paper or an empty form box (training/paper.py), photographed or
  scanned, at any size: what is left of a photo of squared paper when no digit is found in it;
- partial digits: a real digit cut so that only an end of it stays (12 to 38% of its ink), drawn the ways
  real digits are. A cut that leaves a 1 (one long, upright stroke) is cut again.
"""

from __future__ import annotations

import numpy as np

from training import paper
from training.photos import DIGIT_HEIGHT
from training.real_world import any_upload

# The share of a digit's ink a fragment keeps.
KEPT_INK = (0.12, 0.38)
ATTEMPTS = 10


def printed_lines(rng: np.random.Generator) -> bytes:
    """A piece of blank squared or ruled paper or an empty box, 48 to 640 pixels a side, photographed under
    any light or scanned; line spacing as a digit written on it would have."""
    shape = (int(rng.integers(48, 641)), int(rng.integers(48, 641)))
    digit_height = rng.uniform(*DIGIT_HEIGHT) * min(1.0, min(shape) / 300)
    sheet = str(rng.choice(["squared", "ruled", "boxed"]))
    centre = (rng.uniform(0.2, 0.8) * shape[0], rng.uniform(0.2, 0.8) * shape[1])
    box = (
        centre[0] - digit_height / 2,
        centre[1] - digit_height / 3,
        centre[0] + digit_height / 2,
        centre[1] + digit_height / 3,
    )
    scan = rng.random() < 0.3
    page = paper.sheet(sheet, rng, shape, digit_height, box, max_tilt=1.5 if scan else 4.0)
    if scan:
        return paper.scanned(page, rng)
    return paper.photographed(page, rng, str(rng.choice(paper.LIGHTS)), centre)


def partial(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit (28x28 uint8) with all its ink gone but one end: the ink on one side of a line across it
    at a random angle, KEPT_INK of the whole. A fragment like a 1 is cut again (up to ATTEMPTS times)."""
    ys, xs = np.mgrid[0:28, 0:28]
    weights = digit.astype(np.float64).ravel()
    fragment = digit
    for _ in range(ATTEMPTS):
        angle = rng.uniform(0, 2 * np.pi)
        along = (np.cos(angle) * xs + np.sin(angle) * ys).ravel()
        order = np.argsort(along, kind="stable")
        cumulative = np.cumsum(weights[order]) / weights.sum()
        cut = along[order][np.searchsorted(cumulative, rng.uniform(*KEPT_INK))]
        fragment = np.where((along < cut).reshape(28, 28), digit, 0).astype(np.uint8)
        if not _like_a_one(fragment):
            break
    return fragment


def partial_digit(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """A partial digit (see partial) drawn one of the ways real digits arrive (real_world.any_upload)."""
    return any_upload(partial(digit, rng), label, rng)


def _like_a_one(fragment: np.ndarray) -> bool:
    """One long stroke within 30 degrees of upright: the shape of a 1, which the preprocessing enlarges to
    a digit's size."""
    ys, xs = np.nonzero(fragment > 64)
    if len(ys) < 3:
        return False
    variances, axes = np.linalg.eigh(np.cov(np.stack([xs, ys]).astype(np.float64)))
    upright = abs(axes[1, 1]) > np.cos(np.deg2rad(30))
    return bool(variances[1] > 9 * max(variances[0], 1e-6) and upright)
