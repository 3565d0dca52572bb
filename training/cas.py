"""Classification Accuracy Score (Ravuri & Vinyals 2019): what a CVAE's labelled samples are worth as data.

The classifier recipe that judges the CVAE's samples is trained three times, with one seed, and tested on
the real test split each time: on synthetic images only (as many of each class as the real training split
has: the CAS), on the real training split (the reference), and on both together. A generator whose samples
are clear but all alike scores high sample accuracy and low CAS: CAS measures what its samples cover of
each class, not only that they look the part.

The synthetic images are the first images of each class of `cvae-generate --per-class <largest class>
--seed <seed>` (model/synthetic.py): a class's first N images are the same for every per_class >= N.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.config import ClassifierConfig
from model.device import resolve_device
from model.synthetic import DatasetSpec, Synthesis
from training.data import Split, to_tensors
from training.generate import open_synthesis
from training.train_classifier import ClassifierRecipe, accuracy, fit_classifier

log = logging.getLogger("cvae.cas")


def first_of_each_class(synthesis: Synthesis, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first counts[k] images of class k of `synthesis`, class by class, and their labels."""
    images, labels = [], []
    missing = counts.astype(int).copy()
    with tqdm(total=int(counts.sum()), unit="image", desc="synthetic training set", leave=False) as bar:
        for chunk in synthesis:
            kept = chunk.tiles[: missing[chunk.label]]
            missing[chunk.label] -= len(kept)
            images.append(kept)
            labels.append(np.full(len(kept), chunk.label, dtype=np.uint8))
            bar.update(len(kept))
    return np.concatenate(images), np.concatenate(labels)


def classification_accuracy_score(
    checkpoint: str | Path,
    split: Split,
    recipe: ClassifierRecipe,
    cfg: ClassifierConfig | None = None,
    temperature: float = 1.0,
) -> dict[str, object]:
    """Test accuracy of a classifier `cfg` trained by `recipe` on synthetic, real, and real + synthetic
    training images."""
    counts = np.bincount(split.train_labels, minlength=len(split.class_names))
    spec = DatasetSpec(int(counts.max()), recipe.seed, temperature)
    synthesis, _ = open_synthesis(checkpoint, spec, recipe.device)
    synthetic_images, synthetic_labels = first_of_each_class(synthesis, counts)
    device = resolve_device(recipe.device)
    x_test, y_test = (t.to(device) for t in to_tensors(split.test_images, split.test_labels))

    def score(name: str, images: np.ndarray, labels: np.ndarray) -> float:
        log.info("CAS: training the classifier recipe on %s (%d images)", name, len(images))
        model = fit_classifier(replace(split, train_images=images, train_labels=labels), recipe, cfg)
        return round(accuracy(model, x_test, y_test), 4)

    both = (
        np.concatenate([split.train_images, synthetic_images]),
        np.concatenate([split.train_labels, synthetic_labels]),
    )
    return {
        "synthetic": score("synthetic images", synthetic_images, synthetic_labels),
        "real": score("the real training split", split.train_images, split.train_labels),
        "real_plus_synthetic": score("real and synthetic images", *both),
        "synthetic_images": len(synthetic_images),
        "test_images": len(split.test_images),
        "temperature": temperature,
        "recipe": {k: v for k, v in asdict(recipe).items() if k != "device"},
    }
