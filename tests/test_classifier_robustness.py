"""The shipped digit classifier on held-out digits that are not MNIST-shaped, through the upload path.

Each digit of the test split is distorted with Pillow (not with the training augmentation code), drawn as
dark ink on white paper at 4x size, and sent through model.preprocess like an upload. The likelihood of a
CVAE is fragile on such inputs (DESIGN.md); the classifier, which decides the digit, must not be.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from model.checkpoint import load_checkpoint
from model.classifier import classify
from model.preprocess import preprocess_upload
from training.data import Split

ROOT = Path(__file__).resolve().parents[1]

DISTORTIONS: dict[str, tuple[Callable[[Image.Image], Image.Image], float]] = {
    "none": (lambda im: im, 0.98),
    "shrunk to 8x8 and back": (
        lambda im: im.resize((8, 8), Image.BOX).resize((28, 28), Image.BILINEAR),
        0.93,
    ),
    "blurred (radius 1.5)": (lambda im: im.filter(ImageFilter.GaussianBlur(1.5)), 0.96),
    "thickened (3x3 max)": (lambda im: im.filter(ImageFilter.MaxFilter(3)), 0.96),
    "thinned (half a pixel)": (
        lambda im: im.resize((112, 112), Image.BICUBIC).filter(ImageFilter.MinFilter(5)).resize((28, 28)),
        0.98,
    ),
}


@pytest.fixture(scope="module")
def digits(offline_split: Split) -> tuple[np.ndarray, np.ndarray]:
    split = offline_split
    every = np.arange(0, len(split.test_images), 2)  # 500 held-out digits, all ten classes
    return split.test_images[every], split.test_labels[every]


def _upload(digit: Image.Image) -> bytes:
    """Dark ink on white paper, 4x size, with margins: how a person would photograph or scan it."""
    ink = np.asarray(digit.resize((112, 112), Image.BICUBIC))
    paper = np.full((160, 140), 255, dtype=np.uint8)
    paper[20:132, 14:126] = 255 - ink
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_classifier_recognises_distorted_uploads(name: str, digits) -> None:
    distort, floor = DISTORTIONS[name]
    images, labels = digits
    batch = torch.cat([preprocess_upload(_upload(distort(Image.fromarray(image)))) for image in images])
    classifier = load_checkpoint(ROOT / "checkpoints" / "digit-classifier", "classifier").model
    truth = torch.from_numpy(labels.astype(np.int64))
    accuracy = (classify(classifier, batch) == truth).float().mean().item()
    print(f"\nclassifier accuracy on {len(labels)} held-out digits, {name}: {accuracy:.3f}")
    assert accuracy >= floor
