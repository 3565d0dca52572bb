"""Download the official MNIST IDX files for users with internet, verified by their published sha256."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# The published SHA-256 of the original gzipped files (LeCun & Cortes).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


class DownloadError(RuntimeError):
    """No mirror delivered a file with the expected checksum."""


def _fetch(url: str, dest: Path, timeout: float) -> str:
    """Stream `url` into `dest` with a progress bar; returns the sha256 of what was written."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], leave=False) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
    return digest.hexdigest()


def download_mnist(
    directory: str | Path,
    mirrors: tuple[str, ...] = MIRRORS,
    files: dict[str, str] = MNIST_FILES,
    timeout: float = 60.0,
) -> Path:
    """Fetch each missing or damaged file into `directory`, trying the mirrors in order."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, sha256 in files.items():
        target = directory / name
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            continue
        errors = []
        for mirror in mirrors:
            partial = target.with_name(target.name + ".part")
            try:
                got = _fetch(mirror.rstrip("/") + "/" + name, partial, timeout)
            except (urllib.error.URLError, OSError) as e:
                errors.append(f"{mirror}: {e}")
                partial.unlink(missing_ok=True)
                continue
            if got != sha256:
                errors.append(f"{mirror}: sha256 {got[:12]}… does not match the published {sha256[:12]}…")
                partial.unlink(missing_ok=True)
                continue
            partial.replace(target)
            break
        else:
            raise DownloadError(f"could not download {name}: " + "; ".join(errors))
    return directory
