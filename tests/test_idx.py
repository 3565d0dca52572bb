import gzip
import struct

import numpy as np
import pytest

from training.data import load_idx_split
from training.idx import IDXError, read_idx, write_idx


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip(tmp_path, name: str) -> None:
    array = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, array)
    assert np.array_equal(read_idx(tmp_path / name, expected_ndim=3), array)


def test_header_is_the_mnist_one(tmp_path) -> None:
    write_idx(tmp_path / "labels", np.arange(5, dtype=np.uint8))
    raw = (tmp_path / "labels").read_bytes()
    assert raw[:8] == b"\x00\x00\x08\x01" + struct.pack(">I", 5)  # magic 2049, then the count


def _write(tmp_path, data: bytes, name: str = "bad"):
    (tmp_path / name).write_bytes(data)
    return tmp_path / name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\x00\x00", "too short"),
        (b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic"),
        (b"\x00\x00\x08\x00", "bad magic"),
        (b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\x00" * 4, "unsupported data type"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated header"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"\x00" * 9, "promises 10 bytes"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x00" * 3, "file has 3"),
        (b"\x1f\x8b" + b"garbage", "corrupt gzip"),
        (b"%PDF-1.4 not an idx file", "bad magic"),
    ],
)
def test_malformed_files_give_clear_errors(tmp_path, data: bytes, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(IDXError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_gzip(tmp_path) -> None:
    full = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 1000) + bytes(1000))
    with pytest.raises(IDXError, match="corrupt gzip"):
        read_idx(_write(tmp_path, full[: len(full) // 2], "t.gz"))


def test_wrong_number_of_dimensions(tmp_path) -> None:
    write_idx(tmp_path / "x", np.zeros((2, 3), dtype=np.uint8))
    with pytest.raises(IDXError, match="has 2 dimensions, expected 3"):
        read_idx(tmp_path / "x", expected_ndim=3)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(IDXError, match="missing"):
        read_idx(tmp_path / "nope")


def _write_mnist_dir(directory, n_train: int = 20, n_test: int = 10, gz: bool = True) -> None:
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n))


@pytest.mark.parametrize("gz", [True, False])
def test_official_split_from_an_idx_directory(tmp_path, gz: bool) -> None:
    _write_mnist_dir(tmp_path, gz=gz)
    split = load_idx_split(tmp_path)
    assert split.train_images.shape == (20, 28, 28) and split.test_images.shape == (10, 28, 28)
    assert len(split.train_labels) == 20 and len(split.sha256) == 64


def test_image_and_label_counts_must_agree(tmp_path) -> None:
    _write_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(9, dtype=np.uint8))
    with pytest.raises(IDXError, match="10 images but 9 labels"):
        load_idx_split(tmp_path)
