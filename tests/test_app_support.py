"""Shared pieces of the service tests: tiny checkpoints, an app on them, and images to upload.

Tests of validation and plumbing use tiny untrained models (fast, any device); tests of real behaviour use
the shipped checkpoints (test_app_shipped.py).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.settings import Settings
from model.checkpoint import save_checkpoint
from model.classifier import DigitClassifier
from model.config import ClassifierConfig, CVAEConfig
from model.cvae import CVAE

LATENT_DIM = 4


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    """The service sets torch's (process-wide) thread count; later test modules get theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    cvae = CVAE(CVAEConfig(arch="conv", latent_dim=LATENT_DIM, channels=4))
    classifier = DigitClassifier(ClassifierConfig(channels=4, hidden_dim=8))
    metrics = {"test_neg_elbo": 543.2}
    save_checkpoint(root / "cvae", cvae, {"name": "tiny-cvae", "metrics": metrics})
    save_checkpoint(root / "classifier", classifier.eval(), {"name": "tiny-classifier"})
    return root / "cvae", root / "classifier"


def tiny_settings(checkpoints: tuple[Path, Path], **overrides: object) -> Settings:
    """Settings for the tiny checkpoints alone (no extra model unless given); the device comes from
    CVAE_DEVICE (auto: CUDA when present)."""
    cvae, classifier = checkpoints
    return Settings(**{"checkpoint": cvae, "classifier": classifier, "extra_models": [], **overrides})


@pytest.fixture(scope="module")
def client(tiny_checkpoints: tuple[Path, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(tiny_settings(tiny_checkpoints))) as started:
        yield started


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
