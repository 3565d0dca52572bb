"""`cvae-train` (also `python -m training`): train the CVAE, a checkpoint every epoch (training/train.py)."""

from __future__ import annotations

import argparse

from model.config import CVAEConfig
from training.commands.arguments import (
    add_options,
    add_training_arguments,
    chosen,
    command_parser,
    run_cli,
    training_split,
)
from training.train import TrainConfig, train

MODEL_OPTIONS = {
    "arch": "network family",
    "latent_dim": "size of z",
    "hidden_dim": "hidden units (mlp)",
    "channels": "base channels (conv)",
    "loss": "reconstruction term: Bernoulli BCE or Gaussian SSE",
}
TRAINING_OPTIONS = {
    "epochs": "epochs in total",
    "batch_size": "images per step",
    "lr": "peak learning rate (Adam)",
    "schedule": "learning-rate schedule over all steps",
    "beta": "weight of the KL term",
    "kl_warmup": "epochs over which the KL weight rises linearly from 0 to beta (0: off)",
    "augment": "probability that a training image is mildly warped (±8°, ±5%% scale, ±1 px; 0: off)",
    "precision": "bf16 autocast or plain fp32; auto: bf16 where the GPU or CPU computes it natively",
    "eval_images": "test images (evenly spaced) for the per-epoch test -ELBO (0: all)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "cvae-train",
        "Train a conditional VAE on labelled 28x28 images (the digits by default) and write a checkpoint "
        "every epoch.",
    )
    defaults = TrainConfig()
    add_training_arguments(parser, defaults.seed, defaults.device, out="checkpoints/cvae-mnist")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    add_options(parser.add_argument_group("model"), CVAEConfig(), MODEL_OPTIONS)
    add_options(parser.add_argument_group("optimisation"), defaults, TRAINING_OPTIONS)
    return parser


def main(argv: list[str] | None = None) -> None:
    def run(args: argparse.Namespace) -> None:
        split = training_split(args)
        train(
            CVAEConfig(**chosen(CVAEConfig, args), num_classes=len(split.class_names)),
            TrainConfig(**chosen(TrainConfig, args)),
            split,
            args.out,
            resume=args.resume,
        )

    run_cli(build_parser(), run, argv)


if __name__ == "__main__":
    main()
