"""Plain helpers for data the tests make themselves: fake digits, the small split, IDX files of a split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.data import Split
from training.idx import write_idx


def make_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fake 28x28 digits: class k is a bar at a class-specific row and a stroke at a class-specific column."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i, k in enumerate(labels):
        row = 4 + 2 * k + rng.integers(-1, 2)
        col = 4 + rng.integers(-2, 3)
        images[i, row : row + 3, col : col + 18] = 255
        images[i, 4:24, 4 + k + rng.integers(0, 2)] = 200
    return images, labels


def synthetic_split() -> Split:
    """300 training and 100 test images: enough for a loss to fall within two epochs."""
    x_train, y_train = make_digits(300, seed=1)
    x_test, y_test = make_digits(100, seed=2)
    return Split("synthetic", x_train, y_train, x_test, y_test, sha256="0" * 64)


def write_split_as_idx(split: Split, directory: Path, suffix: str = "") -> Path:
    """The split as MNIST-format files (train-*/t10k-*), the layout `--data idx` reads."""
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, images, labels in (
        ("train", split.train_images, split.train_labels),
        ("t10k", split.test_images, split.test_labels),
    ):
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return directory
