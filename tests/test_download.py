"""The MNIST downloader, tested against files served from 127.0.0.1, never the internet."""

import hashlib
import re
import threading
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler

import numpy as np
import pytest

from training.data import load_split
from training.idx import write_idx
from training.mnist_download import MNIST_FILES, DownloadError, download_mnist


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mirror(tmp_path):
    """An HTTP server on 127.0.0.1 serving small MNIST-format files; yields (base URL, {name: sha256})."""
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(0)
    for name in MNIST_FILES:
        shape = (12, 28, 28) if "images" in name else (12,)
        high = 256 if "images" in name else 10
        write_idx(served / name, rng.integers(0, high, shape))
    sums = {name: hashlib.sha256((served / name).read_bytes()).hexdigest() for name in MNIST_FILES}
    server = HTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", sums
    server.shutdown()


def test_official_names_and_checksums() -> None:
    assert set(MNIST_FILES) == {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }
    assert all(re.fullmatch("[0-9a-f]{64}", s) for s in MNIST_FILES.values())


def test_download_verifies_and_loads(tmp_path, mirror) -> None:
    url, sums = mirror
    out = download_mnist(tmp_path / "mnist", mirrors=(url,), files=sums)
    for name, sha in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == sha
    split = load_split("idx", out)
    assert split.train_images.shape == (12, 28, 28)


def test_a_bad_mirror_falls_through_to_the_next(tmp_path, mirror) -> None:
    url, sums = mirror
    dead = "http://127.0.0.1:9/"  # discard port: connection refused
    download_mnist(tmp_path, mirrors=(dead, url), files=sums)
    assert all((tmp_path / name).is_file() for name in sums)


def test_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path, mirror) -> None:
    url, sums = mirror
    wrong = dict.fromkeys(sums, "0" * 64)
    with pytest.raises(DownloadError, match="does not match the published"):
        download_mnist(tmp_path / "out", mirrors=(url,), files=wrong)
    assert list((tmp_path / "out").iterdir()) == []


def test_existing_good_files_are_not_fetched_again(tmp_path, mirror) -> None:
    url, sums = mirror
    download_mnist(tmp_path, mirrors=(url,), files=sums)
    written = {name: (tmp_path / name).stat().st_mtime_ns for name in sums}
    # A second call with no reachable mirror succeeds: everything is already there and verified.
    assert download_mnist(tmp_path, mirrors=("http://127.0.0.1:9/",), files=sums) == tmp_path
    assert {name: (tmp_path / name).stat().st_mtime_ns for name in sums} == written
