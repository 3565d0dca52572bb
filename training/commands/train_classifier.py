"""`cvae-train-classifier`: train the classifier that judges samples (training/train_classifier.py)."""

from __future__ import annotations

import argparse
import json

from training.commands import arguments
from training.train_classifier import ClassifierRecipe, train_classifier

RECIPE_OPTIONS = {
    "epochs": "epochs in total",
    "batch_size": "images per step",
    "lr": "peak learning rate (AdamW, one-cycle)",
    "augmentation": "uploads: slant, stroke, blur and thumbnail distortions, so handwriting from outside "
    "MNIST is read; objects: left-right mirror, a 2-pixel shift and blur, for photographed things "
    "(Fashion-MNIST)",
    "european": "probability that a training step shows a 1 with a flag or a 7 with a bar (continental "
    "handwriting) instead of the digit as written; for digits only",
}


def build_parser() -> argparse.ArgumentParser:
    parser = arguments.command_parser(
        "cvae-train-classifier",
        "Train the digit classifier (label inference, sample accuracy) on the train split only.",
    )
    defaults = ClassifierRecipe()
    arguments.add_training_arguments(
        parser, defaults.seed, defaults.device, out="checkpoints/digit-classifier"
    )
    arguments.add_options(parser, defaults, RECIPE_OPTIONS, flags={"augmentation": "--augment"})
    return parser


def main(argv: list[str] | None = None) -> None:
    def run(args: argparse.Namespace) -> None:
        recipe = ClassifierRecipe(**arguments.chosen(ClassifierRecipe, args))
        print(json.dumps(train_classifier(arguments.training_split(args), args.out, recipe)))

    arguments.run_cli(build_parser(), run, argv)


if __name__ == "__main__":
    main()
