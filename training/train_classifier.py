"""Train the classifier on the train split only, with augmentation (training/augment.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from model.checkpoint import save_checkpoint
from model.classifier import DigitClassifier, classify
from model.config import ClassifierConfig
from model.device import resolve_device
from training.augment import AUGMENTATIONS, Augmentation
from training.data import Split, to_tensors
from training.fit import fit_one_cycle
from training.real_world import european_versions

log = logging.getLogger("cvae.classifier")


def accuracy(model: DigitClassifier, x: Tensor, y: Tensor) -> float:
    model.eval()
    return (classify(model, x) == y).float().mean().item()


@dataclass(frozen=True)
class ClassifierRecipe:
    """How a classifier is trained; recorded in its config.json."""

    epochs: int = 15
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0
    device: str = "auto"
    augmentation: Augmentation = "uploads"
    european: float = 0.0


def recorded_recipe(training: dict[str, Any]) -> dict[str, Any]:
    """The recipe a classifier's config.json records under "training"; classifiers trained before
    --augment existed name the augmentation module instead, and used what is now "uploads"."""
    augmentation = training.get("augmentation", "uploads")
    known = {f.name for f in fields(ClassifierRecipe)}
    return {
        **{k: v for k, v in training.items() if k in known},
        "augmentation": augmentation if augmentation in AUGMENTATIONS else "uploads",
    }


def fit_classifier(
    split: Split, recipe: ClassifierRecipe, cfg: ClassifierConfig | None = None
) -> DigitClassifier:
    """The classifier recipe on `split`'s train images, logging the test accuracy after each epoch: the
    shipped classifiers, and cvae-evaluate's classification accuracy score (training/cas.py)."""
    augment = AUGMENTATIONS[recipe.augmentation]
    dev = resolve_device(recipe.device)
    torch.manual_seed(recipe.seed)
    model = DigitClassifier(cfg or ClassifierConfig(num_classes=len(split.class_names))).to(dev)
    x_train, y_train = to_tensors(split.train_images, split.train_labels)
    # Continental writers' 1s (a flag) and 7s (a bar across): each 1 and 7 is drawn that way with this
    # probability a step, from one European version of it. Digits only: a Fashion label 7 is a sneaker.
    if recipe.european:
        x_european = to_tensors(
            european_versions(split.train_images, split.train_labels, recipe.seed), split.train_labels
        )[0]
    x_test, y_test = (t.to(dev) for t in to_tensors(split.test_images, split.test_labels))
    g = torch.Generator().manual_seed(recipe.seed)

    def batch_loss(batch: Tensor) -> Tensor:
        x = x_train[batch]
        if recipe.european:
            chosen = (torch.rand(len(batch), generator=g) < recipe.european).view(-1, 1, 1, 1)
            x = torch.where(chosen, x_european[batch], x)
        x = augment(x, g).to(dev)
        return F.cross_entropy(model(x), y_train[batch].to(dev), label_smoothing=0.05)

    def after_epoch(epoch: int, _: float) -> None:
        test_accuracy = accuracy(model, x_test, y_test)
        log.info("classifier epoch %d/%d  test accuracy %.4f", epoch + 1, recipe.epochs, test_accuracy)

    fit_one_cycle(
        model,
        len(x_train),
        batch_loss,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        seed=recipe.seed,
        desc="classifier",
        after_epoch=after_epoch,
    )
    return model.eval()


def train_classifier(
    split: Split, out_dir: str | Path, recipe: ClassifierRecipe, cfg: ClassifierConfig | None = None
) -> dict[str, float]:
    """Train, report clean and distorted test accuracy, and write the checkpoint to `out_dir`."""
    model = fit_classifier(split, recipe, cfg)
    dev = next(model.parameters()).device
    x_test, y_test = (t.to(dev) for t in to_tensors(split.test_images, split.test_labels))
    # The same distortions as in training, drawn with a fixed seed on the held-out digits only.
    distorted = AUGMENTATIONS[recipe.augmentation](
        x_test.cpu(), torch.Generator().manual_seed(recipe.seed + 1)
    ).to(dev)
    metrics = {
        "test_accuracy": round(accuracy(model, x_test, y_test), 4),
        "distorted_test_accuracy": round(accuracy(model, distorted, y_test), 4),
        "test_images": len(x_test),
    }
    save_checkpoint(
        out_dir,
        model,
        {
            "name": Path(out_dir).name,
            "data": split.describe(),
            "seed": recipe.seed,
            "epochs": recipe.epochs,
            "training": {
                "batch_size": recipe.batch_size,
                "lr": recipe.lr,
                "augmentation": recipe.augmentation,
                "european": recipe.european,
            },
            "metrics": metrics,
            "runtime": {"device": dev.type, "precision": "fp32", "processes": 1},
        },
    )
    return metrics
