"""How often `is_digit` is false, per kind of upload, for a served model.

Each kind of training/ood_data.py (and the photographed digits of training/photos.py) is sent through the
service's preprocessing and scored as the service scores it, with the calibration stored in the checkpoint
(cvae-calibrate). An upload the preprocessing refuses (no ink: a 400) counts as flagged, since the user is
told it is not usable. The ROC AUC is that of the score between the kind and the held-out real digits the
calibration never saw (the odd positions of the test split): 1.0 separates them perfectly; the JSON also
has each feature's own (model/ood.py), scored or not.
`make trust` writes it to benchmarks/results/ood.json (training/commands/ood_report.py).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import load_checkpoint, load_tensors
from model.ood import FEATURES, SCORED, STATS_FILE, Calibration
from training import ood_data
from training.calibrate import as_uploads, features_of, preprocessed
from training.data import load_idx_split, load_split
from training.photos import KINDS as PHOTO_KINDS
from training.photos import render_photo

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def roc_auc(negatives: torch.Tensor, positives: torch.Tensor) -> float:
    """P(a positive scores above a negative), ties counting half (the Mann-Whitney U statistic)."""
    above = (positives[:, None] > negatives[None]).double().mean()
    ties = (positives[:, None] == negatives[None]).double().mean()
    return float(above + 0.5 * ties)


def kinds(test_images: np.ndarray, per_kind: int) -> dict[str, tuple[bool, ood_data.Kind]]:
    """Every kind measured: (whether it is made of digits, its generator)."""
    check = test_images[1::2]
    found: dict[str, tuple[bool, ood_data.Kind]] = {
        "test digits (held out)": (True, ood_data.from_images(check, _as_stored)),
        "digits at other sizes and strokes": (True, ood_data.from_images(check, ood_data.resized_digit)),
        "drawings like the page's pad": (True, ood_data.from_images(check[::-1], ood_data.pad_drawing)),
        "digits photographed on paper": (True, ood_data.from_images(check, _photographed)),
    }
    if FASHION_DIR.is_dir():
        fashion = load_idx_split(FASHION_DIR).test_images[:per_kind]
        found["Fashion-MNIST"] = (False, ood_data.from_images(fashion, _as_stored))
    found |= {
        "letters (serif fonts)": (False, ood_data.letters(ood_data.font_files(ood_data.REPORT_FONTS))),
        "photograph crops": (False, ood_data.photo_crops(ood_data.sample_photo())),
        "noise": (False, ood_data.noise),
        "geometric shapes": (False, ood_data.shapes),
    }
    return found


def _as_stored(image: np.ndarray, rng: np.random.Generator) -> bytes:
    """The image's own PNG file, unchanged: a renderer that needs no randomness."""
    return ood_data.digit_png(image)


def _photographed(image: np.ndarray, rng: np.random.Generator) -> bytes:
    """The digit photographed on paper under one of training/photos.py's lighting kinds, chosen at random."""
    return render_photo(image, 0, str(rng.choice(PHOTO_KINDS)), rng).data


def measure(
    checkpoint: str, classifier_path: str, per_kind: int, flag_rate: float, seed: int
) -> dict[str, object]:
    device = torch.device("cpu")
    cvae = load_checkpoint(checkpoint, "cvae", device)
    classifier = load_checkpoint(classifier_path, "classifier", device).model
    calibration = Calibration.from_dict(cvae.config["ood"], load_tensors(checkpoint, STATS_FILE, cvae.config))
    threshold = calibration.threshold(flag_rate)
    split = load_split("npm", "data")

    def features(x: torch.Tensor) -> dict[str, torch.Tensor]:
        if not len(x):
            return {name: torch.zeros(0) for name in FEATURES}
        return features_of(cvae.model, classifier, calibration.gaussians, calibration.detector, x)

    reference = features(as_uploads(split.test_images[1::2], "held-out digits")[0])
    reference_scores = calibration.score(reference)
    rows = []
    for name, (is_digit, kind) in kinds(split.test_images, per_kind).items():
        n = min(per_kind, len(reference_scores)) if is_digit else per_kind
        started = time.perf_counter()
        x, kept = preprocessed(ood_data.uploads(kind, n, seed), name)
        refused = int((~kept).sum())
        found = features(x)
        scores = calibration.score(found)
        flagged = refused + int((scores > threshold).sum())
        rows.append(
            {
                "kind": name,
                "digits": is_digit,
                "uploads": n,
                "refused_no_ink": refused,
                "flagged": round(flagged / n, 4),
                "roc_auc": None if is_digit else round(roc_auc(reference_scores, scores), 4),
                "roc_auc_by_feature": None
                if is_digit
                else {feature: round(roc_auc(reference[feature], found[feature]), 4) for feature in FEATURES},
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    return {
        "checkpoint": checkpoint,
        "flag_rate": flag_rate,
        "threshold": round(threshold, 4),
        "features": list(calibration.scales),
        "scored": list(SCORED),
        "machine": platform.processor() or platform.machine(),
        "kinds": rows,
    }


def markdown(result: dict[str, object]) -> str:
    lines = [
        "| upload | digits? | uploads | flagged (is_digit false or no ink) | ROC AUC vs held-out digits |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in result["kinds"]:  # type: ignore[attr-defined]
        auc = "" if row["roc_auc"] is None else f"{row['roc_auc']:.3f}"
        digits = "yes" if row["digits"] else "no"
        lines.append(f"| {row['kind']} | {digits} | {row['uploads']} | {100 * row['flagged']:.1f}% | {auc} |")
    return "\n".join(lines)
