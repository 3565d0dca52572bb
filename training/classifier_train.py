"""Train the classifier on the train split only, with augmentation (training/augment.py)."""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from model.checkpoint import save_checkpoint
from model.classifier import DigitClassifier
from model.config import ClassifierConfig
from model.device import resolve_device
from training.arguments import (
    add_data_arguments,
    add_run_arguments,
    check_output_directory,
    name_classes,
    run_cli,
)
from training.augment import AUGMENTATIONS
from training.data import Split, epoch_order, load_split, to_tensors
from training.evaluate import classify

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
    augmentation: str = "uploads"


def recorded_recipe(training: dict[str, Any]) -> dict[str, Any]:
    """The recipe a classifier's config.json records under "training"; classifiers trained before
    --augment existed name the augmentation module instead, and used what is now "uploads"."""
    augmentation = training.get("augmentation", "uploads")
    return {**training, "augmentation": augmentation if augmentation in AUGMENTATIONS else "uploads"}


def fit_classifier(
    split: Split, recipe: ClassifierRecipe, cfg: ClassifierConfig | None = None
) -> DigitClassifier:
    """The classifier recipe on `split`'s train images, logging the test accuracy after each epoch: the
    shipped classifiers, and cvae-evaluate's classification accuracy score (training/cas.py)."""
    augment = AUGMENTATIONS[recipe.augmentation]
    dev = resolve_device(recipe.device)
    torch.manual_seed(recipe.seed)
    model = DigitClassifier(cfg or ClassifierConfig(num_classes=len(split.class_names))).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=1e-4)
    steps = recipe.epochs * math.ceil(len(split.train_images) / recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=steps)
    x_train, y_train = to_tensors(split.train_images, split.train_labels)
    x_test, y_test = (t.to(dev) for t in to_tensors(split.test_images, split.test_labels))
    g = torch.Generator().manual_seed(recipe.seed)
    for epoch in range(recipe.epochs):
        model.train()
        order = epoch_order(len(x_train), recipe.seed, epoch)
        bar = tqdm(
            order.split(recipe.batch_size), desc=f"classifier epoch {epoch + 1}/{recipe.epochs}", leave=False
        )
        for batch in bar:
            x = augment(x_train[batch], g).to(dev)
            loss = F.cross_entropy(model(x), y_train[batch].to(dev), label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        log.info(
            "classifier epoch %d/%d  test accuracy %.4f",
            epoch + 1,
            recipe.epochs,
            accuracy(model, x_test, y_test),
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
            },
            "metrics": metrics,
        },
    )
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="cvae-train-classifier",
        description="Train the digit classifier (label inference, sample accuracy) on the train split only.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=int, default=15, help="epochs in total")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (AdamW, one-cycle)")
    parser.add_argument(
        "--augment",
        choices=sorted(AUGMENTATIONS),
        default="uploads",
        help="uploads: slant, stroke, blur and thumbnail distortions, so handwriting from outside MNIST is "
        "read; objects: left-right mirror, a 2-pixel shift and blur, for photographed things (Fashion-MNIST)",
    )
    add_run_arguments(parser, seed=0, device="auto")
    parser.add_argument("--out", default="checkpoints/digit-classifier", help="checkpoint directory to write")

    def run(args: argparse.Namespace) -> None:
        check_output_directory(args.out)
        split = name_classes(load_split(args.data, args.data_dir, args.npm_tarball), args.class_names)
        recipe = ClassifierRecipe(args.epochs, args.batch_size, args.lr, args.seed, args.device, args.augment)
        metrics = train_classifier(split, args.out, recipe)
        print(json.dumps(metrics))

    run_cli(parser, run, argv)


if __name__ == "__main__":
    main()
