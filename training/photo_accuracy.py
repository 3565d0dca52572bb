"""How often the served upload path reads a photographed digit correctly (`make trust`,
training/commands/photo_accuracy.py).

The fixed split's test digits are rendered as phone photos of each kind (training/photos.py), sent through
model.preprocess.preprocess_upload as the service does, and read by the shipped classifier. The same digits
rendered as clean uploads (black ink on white, PNG) are the reference: a photo is read as well as the digit
itself only if preprocessing undoes the light, grain and framing.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from model.checkpoint import load_checkpoint
from model.classifier import classify
from model.preprocess import UploadError, preprocess_upload
from training.data import load_split
from training.photos import KINDS, Photo, photo_set

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "photos.json"
# 400 photos of each kind and 400 clean uploads take about a minute on 2 cores.
DEFAULT_PER_KIND = 400
TARGET = 0.9

Preprocess = Callable[[bytes], Tensor]


def load_preprocess(path: str | None) -> tuple[Preprocess, type[Exception]]:
    """preprocess_upload and UploadError of the module in the file `path`, or of model.preprocess."""
    if path is None:
        return preprocess_upload, UploadError
    spec = importlib.util.spec_from_file_location("preprocess_under_test", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.preprocess_upload, module.UploadError


def measure(
    photos: Sequence[Photo], classifier: nn.Module, preprocess: Preprocess, refusal: type[Exception]
) -> dict[str, float | int]:
    """Accuracy on `photos`; an upload that preprocessing refuses counts as misread."""
    inputs, labels, refused = [], [], 0
    start = time.perf_counter()
    for photo in photos:
        try:
            inputs.append(preprocess(photo.data))
            labels.append(photo.label)
        except refusal:
            refused += 1
    seconds = time.perf_counter() - start
    correct = 0
    if inputs:
        correct = int((classify(classifier, torch.cat(inputs)) == torch.tensor(labels)).sum())
    return {
        "photos": len(photos),
        "accuracy": round(correct / len(photos), 4),
        "refused": refused,
        "preprocess_ms_per_photo": round(1000 * seconds / len(photos), 2),
    }


def _shown(path: str | Path) -> str:
    """`path` relative to the repository when it is inside it, so the report is the same on every machine."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def markdown_table(results: dict[str, dict[str, float | int]]) -> str:
    lines = [
        "| kind | photos | read correctly | refused | preprocessing ms/photo |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, row in results.items():
        lines.append(
            f"| {kind} | {row['photos']} | {100 * row['accuracy']:.1f}% | {row['refused']} "
            f"| {row['preprocess_ms_per_photo']} |"
        )
    return "\n".join(lines)


def photo_accuracy_report(
    per_kind: int, seed: int, data_dir: str, classifier_path: str, preprocess_file: str | None = None
) -> dict[str, Any]:
    """Each kind of photo of `per_kind` test digits read through the upload preprocessing (the module in
    `preprocess_file`, else model/preprocess.py) by the classifier, beside the same digits as clean
    uploads."""
    split = load_split("npm", data_dir, None)
    count = min(per_kind, len(split.test_images))
    # Evenly spaced over the split, which is in digit order: every class, the same digits for every kind.
    indices = np.linspace(0, len(split.test_images) - 1, count).round().astype(int).tolist()
    classifier = load_checkpoint(classifier_path, "classifier", torch.device("cpu")).model
    preprocess, refusal = load_preprocess(preprocess_file)
    results = {}
    for kind in ("clean", *KINDS):
        photos = photo_set(split.test_images, split.test_labels, kind, indices, seed)
        results[kind] = measure(photos, classifier, preprocess, refusal)
    photo_rows = [results[kind] for kind in KINDS]
    return {
        "benchmark": "photographed digits read correctly: training/photos.py, preprocess_upload, classifier",
        "preprocessing": _shown(preprocess_file or ROOT / "model" / "preprocess.py"),
        "classifier": _shown(classifier_path),
        "data": split.name,
        "digits_per_kind": count,
        "seed": seed,
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads",
        "photo_accuracy": round(float(np.mean([row["accuracy"] for row in photo_rows])), 4),
        "worst_kind_accuracy": min(row["accuracy"] for row in photo_rows),
        "clean_accuracy": results["clean"]["accuracy"],
        "photo_preprocess_ms": round(
            float(np.mean([row["preprocess_ms_per_photo"] for row in photo_rows])), 2
        ),
        "target": TARGET,
        "kinds": results,
    }
