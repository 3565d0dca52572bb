"""Uploads that are phone photos of a handwritten digit: the renderer (training/photos.py) is reproducible,
and preprocessing reads its photos as the digit whatever the light, while light alone is not ink."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from app_support import encode_image
from PIL import Image

from model.checkpoint import load_checkpoint
from model.classifier import classify
from model.preprocess import NoInkError, preprocess_upload
from training.data import Split
from training.photos import FRAME, KINDS, photo_rng, photo_set, render_clean, render_photo

ROOT = Path(__file__).resolve().parents[1]
# The kinds a photo is hardest to read in, each changing one thing: what preprocessing must undo.
HARD_KINDS = ("gradient", "shadow", "small digit", "colour cast")
PER_KIND = 15
# Per kind: the preprocessed photos, and the digits' own 28x28 images and labels.
Photographed = dict[str, tuple[torch.Tensor, np.ndarray, np.ndarray]]


def _digit() -> np.ndarray:
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[5:23, 12:16] = 255
    return digit


def test_renderer_is_seeded_and_gives_jpegs_of_the_frame() -> None:
    for kind in KINDS:
        photo = render_photo(_digit(), 1, kind, photo_rng(0, kind, 7))
        assert photo == render_photo(_digit(), 1, kind, photo_rng(0, kind, 7))
        assert photo.data != render_photo(_digit(), 1, kind, photo_rng(1, kind, 7)).data
        image = Image.open(io.BytesIO(photo.data))
        assert image.format == "JPEG" and image.mode == "RGB"
        assert image.size in (FRAME, FRAME[::-1])
        assert (photo.label, photo.kind) == (1, kind)
    clean = Image.open(io.BytesIO(render_clean(_digit(), 1, photo_rng(0, "clean", 7)).data))
    assert clean.format == "PNG" and clean.size in (FRAME, FRAME[::-1])
    with pytest.raises(ValueError, match="unknown kind"):
        render_photo(_digit(), 1, "fog", photo_rng(0, "fog", 0))


def test_a_photo_depends_on_its_digit_not_on_the_others_rendered() -> None:
    images, labels = np.stack([_digit(), _digit().T]), np.array([1, 7])
    both = photo_set(images, labels, "shadow", [0, 1])
    assert photo_set(images, labels, "shadow", [1]) == both[1:]


@pytest.fixture(scope="module")
def photographed(offline_split: Split) -> Photographed:
    """PER_KIND test digits, of every class, photographed in each hard kind and preprocessed."""
    indices = np.linspace(0, len(offline_split.test_images) - 1, PER_KIND).round().astype(int).tolist()
    images, labels = offline_split.test_images, offline_split.test_labels
    return {
        kind: (
            torch.cat([preprocess_upload(photo.data) for photo in photo_set(images, labels, kind, indices)]),
            images[indices],
            labels[indices],
        )
        for kind in HARD_KINDS
    }


def test_the_shipped_classifier_reads_photographed_digits(photographed: Photographed) -> None:
    """At least 90% of 60 photos under uneven light, with a colour cast, or of a small digit in a corner (a
    threshold on the paper's brightness at the image's border read about 20% of such photos)."""
    classifier = load_checkpoint(ROOT / "checkpoints" / "digit-classifier", "classifier").model
    correct = {
        kind: int((classify(classifier, x) == torch.from_numpy(labels.astype(np.int64))).sum())
        for kind, (x, _, labels) in photographed.items()
    }
    print(f"\nread correctly, of {PER_KIND} each: {correct}")
    assert sum(correct.values()) >= 0.9 * PER_KIND * len(HARD_KINDS)


def test_the_photographed_ink_is_the_digit(photographed: Photographed) -> None:
    """The preprocessed photo looks like the MNIST digit itself preprocessed: most correlate above 0.8 (the
    pen's stroke is thicker or thinner than MNIST's, so not all of them)."""
    for kind, (x, images, _) in photographed.items():
        own = torch.cat([preprocess_upload(encode_image(Image.fromarray(image), "PNG")) for image in images])
        a, b = (v.flatten(1) - v.flatten(1).mean(1, keepdim=True) for v in (x, own))
        correlation = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
        assert correlation.median() > 0.8, (kind, correlation)


def _blank_page(light: np.ndarray, seed: int) -> bytes:
    """Off-white paper under `light` (H, W), with grain, as a JPEG of quality 70."""
    rng = np.random.default_rng(seed)
    page = 0.9 * light + rng.normal(0, 0.02, light.shape)
    return encode_image(Image.fromarray((np.clip(page, 0, 1) * 255).astype(np.uint8)), "JPEG", quality=70)


def _lights() -> dict[str, np.ndarray]:
    ys, xs = np.mgrid[0:480, 0:640].astype(np.float32)
    gradient = 1.0 - 0.5 * xs / 640
    shadow_edge = 1.0 - 0.5 / (1.0 + np.exp((xs + 0.5 * ys - 400) / 10))
    shadow_blob = 1.0 - 0.5 / (1.0 + np.exp((np.hypot(ys - 200, xs - 300) - 180) / 10))
    vignette = 1.0 - 0.5 * np.minimum(((ys - 240) ** 2 + (xs - 320) ** 2) / 320**2, 1.0)
    return {
        "uniform": np.ones_like(xs),
        "gradient": gradient,
        "vignette": vignette,
        "shadow edge": gradient * shadow_edge,
        "shadow blob": shadow_blob,
    }


@pytest.mark.parametrize("light", list(_lights()))
def test_light_without_ink_is_no_ink(light: str) -> None:
    with pytest.raises(NoInkError):
        preprocess_upload(_blank_page(_lights()[light], seed=3))


@pytest.mark.parametrize("kind", ["plain", "gradient", "vignette", "colour cast"])
def test_rendered_photos_of_no_digit_are_no_ink(kind: str) -> None:
    blank = np.zeros((28, 28), dtype=np.uint8)
    for index in range(3):
        with pytest.raises(NoInkError):
            preprocess_upload(render_photo(blank, 0, kind, photo_rng(0, kind, index)).data)
