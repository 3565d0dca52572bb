"""Plain helpers of the service tests: settings for the tiny checkpoints (conftest.py's `tiny_checkpoints`),
images to upload, and readers of what comes back.

Tests of validation and plumbing use tiny untrained models (fast, any device); tests of real behaviour use
the shipped checkpoints (test_app_shipped.py).
"""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from app.settings import Settings

LATENT_DIM = 4


def tiny_settings(checkpoints: tuple[Path, Path], **overrides: object) -> Settings:
    """Settings for the tiny checkpoints alone (no extra model unless given); the device comes from
    CVAE_DEVICE (auto: CUDA when present)."""
    cvae, classifier = checkpoints
    return Settings(**{"checkpoint": cvae, "classifier": classifier, "extra_models": [], **overrides})


def digit_page(size: tuple[int, int] = (120, 90), dark_ink: bool = True) -> np.ndarray:
    """A uint8 page with a thick diagonal stroke and a bar: something with ink, of any size."""
    width, height = size
    page = np.zeros((height, width), dtype=np.uint8)
    ys, xs = np.mgrid[0:height, 0:width]
    stroke = np.abs(ys / height - xs / width) < 0.08
    bar = (np.abs(ys / height - 0.2) < 0.05) & (xs > width * 0.3)
    page[(stroke | bar) & (ys > height * 0.1) & (ys < height * 0.9)] = 255
    return 255 - page if dark_ink else page


def encode_image(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def png_upload(array: np.ndarray | None = None) -> bytes:
    return encode_image(Image.fromarray(digit_page() if array is None else array), "PNG")


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height 8-bit grayscale pixels, with one byte of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def noise_image(seed: int = 0, size: int = 200) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8))


def truncated(format: str) -> bytes:
    """The first half of a noise image in `format`: the header is intact, the pixel data cut short."""
    data = encode_image(noise_image(), format)
    return data[: len(data) // 2]


def decode_png(data: str | bytes) -> np.ndarray:
    """A grayscale PNG (its bytes, or base64 as in a JSON answer) as a uint8 array."""
    raw = base64.b64decode(data) if isinstance(data, str) else data
    image = Image.open(io.BytesIO(raw))
    assert image.format == "PNG" and image.mode == "L"
    return np.asarray(image)


def batches_shared(client: httpx.Client, batcher: str) -> float:
    """How many batches of the digits model's `batcher` held more than one request, from /metrics."""
    text = client.get("/metrics").text

    def value(name: str) -> float:
        match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    labels = f'batcher="{batcher}",model="cvae-mnist"'
    return value(f"cvae_batch_requests_count{{{labels}}}") - value(
        f'cvae_batch_requests_bucket{{{labels},le="1.0"}}'
    )
