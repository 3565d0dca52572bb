"""`cvae-calibrate CHECKPOINT`: calibrate the service's `is_digit` / `ood_score` on held-out real data.

The classifier's class Gaussians are fitted on the train split (up to 20,000 images, evenly spaced), and the
outlier detector is trained on the same images, changed as uploads differ, against generated outliers
(training/outliers.py). The test split (up to --held-out images, evenly spaced), never trained on, is cut
in two: its even positions calibrate (each feature's median and spread, and their scores: model/ood.py), its
odd positions check that the share flagged at the default rate holds on images the calibration never saw.
Every image goes through the service's upload preprocessing first (as a PNG file), so the calibration
describes what the service sees. The result is stored under "ood" in the CVAE's config.json and in its
ood.safetensors (Gaussians and detector), which the service reads; other models calibrate on their own data.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from model.bounds import fixed_noise
from model.checkpoint import load_checkpoint, read_config, write_config
from model.classifier import DigitClassifier
from model.cvae import CVAE
from model.detector import OutlierDetector
from model.device import resolve_device
from model.ood import STATS_FILE, Calibration, ClassGaussians, calibrate, gather_evidence, ood_features
from model.preprocess import IMAGE_SIZE, UploadError, preprocess_upload
from training.arguments import add_data_arguments, add_run_arguments, run_cli
from training.augment import AUGMENTATIONS
from training.data import load_split
from training.ood_data import digit_png
from training.outliers import (
    EXPOSURE,
    RENDER_WEIGHT,
    augmented_uploads,
    digit_renders,
    fit_detector,
    outlier_uploads,
)

DEFAULT_FLAG_RATE = 0.02
TRAIN_IMAGES = 20_000


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


def classifier_augmentation(config: Mapping[str, Any]) -> str:
    """The augmentation the classifier was trained with (training/augment.py's name for it): "uploads" where
    its config.json names the module rather than one of its recipes."""
    recorded = config.get("training", {}).get("augmentation")
    return recorded if recorded in AUGMENTATIONS else "uploads"


def train_detector(
    train: Tensor, images: np.ndarray, augmentation: str, exposure: int, seed: int
) -> tuple[OutlierDetector, dict[str, Any]]:
    """The outlier detector (training/outliers.py) and what it was trained on: `train` (train `images` as
    uploads), those images changed by `augmentation` and, for handwritten digits ("uploads"), drawn other
    ways, against generated outliers."""
    augmented, _ = preprocessed(augmented_uploads(images, augmentation, seed), "augmented train images")
    renders = torch.zeros(0, *train.shape[1:])
    if augmentation == "uploads":
        renders, _ = preprocessed(digit_renders(images, seed, exposure), "digits drawn other ways")
    outliers, _ = preprocessed(outlier_uploads(seed, exposure), "outliers")
    positives = torch.cat([train, augmented, renders.repeat(RENDER_WEIGHT, 1, 1, 1)])
    record = {
        "augmentation": augmentation,
        "positives": len(positives),
        "outliers": len(outliers),
        "seed": seed,
    }
    return fit_detector(positives, outliers, seed), record


def flagged(calibration: Calibration, features: dict[str, Tensor], flag_rate: float) -> float:
    """The share of images whose score is above the threshold for `flag_rate`."""
    return (calibration.score(features) > calibration.threshold(flag_rate)).double().mean().item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="cvae-calibrate",
        description="Calibrate is_digit/ood_score on the held-out test split (even positions calibrate, odd "
        "positions check) and store it in the checkpoint's config.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("checkpoint", help="CVAE checkpoint directory")
    parser.add_argument(
        "--classifier", default="checkpoints/digit-classifier", help="the classifier served with it"
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--held-out",
        type=int,
        default=2000,
        help="test images (evenly spaced) to calibrate and check on; each costs the ELBO under every label",
    )
    parser.add_argument(
        "--augment",
        choices=sorted(AUGMENTATIONS),
        help="how train images are changed to train the outlier detector on (default: the classifier's own)",
    )
    parser.add_argument(
        "--exposure",
        type=int,
        default=EXPOSURE,
        help="outlier uploads of each kind the detector is trained on, and digits drawn each other way",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave config.json alone")
    add_run_arguments(parser, seed=0, device="cpu")

    def run(args: argparse.Namespace) -> None:
        device = resolve_device(args.device)
        cvae = load_checkpoint(args.checkpoint, "cvae", device).model
        classifier = load_checkpoint(args.classifier, "classifier", device)
        split = load_split(args.data, args.data_dir, args.npm_tarball)
        train, train_images, train_labels = train_uploads(split.train_images, split.train_labels)
        gaussians = ClassGaussians.fit(
            embeddings(classifier.model, train), train_labels, classifier.model.cfg.num_classes
        )
        augmentation = args.augment or classifier_augmentation(classifier.config)
        detector, detector_record = train_detector(
            train, train_images, augmentation, args.exposure, args.seed
        )
        detector = detector.to(device)
        chosen = np.linspace(0, len(split.test_images) - 1, min(len(split.test_images), args.held_out))
        held_out, kept = as_uploads(split.test_images[chosen.astype(int)], "test split")
        calibration = calibrate(
            features_of(cvae, classifier.model, gaussians, detector, held_out[0::2]),
            gaussians,
            detector,
            classifier.config["weights_sha256"],
        )
        check = features_of(cvae, classifier.model, gaussians, detector, held_out[1::2])
        summary = {
            "data": split.name,
            "calibration_images": len(held_out[0::2]),
            "check_images": len(held_out[1::2]),
            "refused_by_preprocessing": int((~kept).sum()),
            "detector": detector_record,
            "default_flag_rate": DEFAULT_FLAG_RATE,
            "threshold": round(calibration.threshold(DEFAULT_FLAG_RATE), 4),
            "check_flagged": round(flagged(calibration, check, DEFAULT_FLAG_RATE), 4),
        }
        print(json.dumps(summary))
        if not args.no_write:
            config = read_config(args.checkpoint)
            ood = {**summary, **calibration.to_dict()}
            write_config(args.checkpoint, {**config, "ood": ood}, {STATS_FILE: calibration.to_tensors()})

    run_cli(parser, run, argv)


if __name__ == "__main__":
    main()
