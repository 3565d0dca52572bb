"""What the client's tests share: the service they call, and images to upload.

The service is `cvae-serve` with the shipped models as its own process on a free port of 127.0.0.1
(tests/live_server.py), with an API key and a small upload limit, so that the client goes over real HTTP to
a server whose every error (401 and 413 included) it can provoke cheaply.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from live_server import cvae_serve
from PIL import Image

from benchmarks.serving_servers import Server

KEY = "client-test-key"
MAX_UPLOAD_BYTES = 100_000


@contextmanager
def client_test_server(workdir: Path) -> Iterator[Server]:
    env = {"CVAE_API_KEY": KEY, "CVAE_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
    with cvae_serve(workdir, env=env) as server:
        yield server


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def grid_tiles(grid: np.ndarray, nrow: int, n: int, size: int = 28, padding: int = 2) -> np.ndarray:
    """The tiles of a /v1/sample.png grid, in order (each `size` square, `padding` pixels of gutter)."""
    step = size + padding
    return np.stack(
        [
            grid[
                padding + r * step : padding + r * step + size, padding + c * step : padding + c * step + size
            ]
            for r, c in (divmod(i, nrow) for i in range(n))
        ]
    )
