"""`cvae-train`: train the CVAE from the command line (also `python -m training`)."""

from __future__ import annotations

import argparse
from dataclasses import fields

from model.config import CVAEConfig
from training.arguments import (
    add_data_arguments,
    add_run_arguments,
    check_output_directory,
    name_classes,
    run_cli,
)
from training.data import load_split
from training.train import TrainConfig, train

MODEL_DEFAULTS = CVAEConfig()
TRAIN_DEFAULTS = TrainConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cvae-train",
        description="Train a conditional VAE on labelled 28x28 images (the digits by default) and write a "
        "checkpoint every epoch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_data_arguments(parser)
    model = parser.add_argument_group("model")
    model.add_argument("--arch", choices=("mlp", "conv"), default=MODEL_DEFAULTS.arch, help="network family")
    model.add_argument("--latent-dim", type=int, default=MODEL_DEFAULTS.latent_dim, help="size of z")
    model.add_argument("--hidden-dim", type=int, default=MODEL_DEFAULTS.hidden_dim, help="hidden units (mlp)")
    model.add_argument("--channels", type=int, default=MODEL_DEFAULTS.channels, help="base channels (conv)")
    model.add_argument(
        "--loss",
        choices=("bce", "sse"),
        default=MODEL_DEFAULTS.loss,
        help="reconstruction term: Bernoulli BCE or Gaussian SSE",
    )
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=TRAIN_DEFAULTS.epochs, help="epochs in total")
    opt.add_argument("--batch-size", type=int, default=TRAIN_DEFAULTS.batch_size, help="images per step")
    opt.add_argument("--lr", type=float, default=TRAIN_DEFAULTS.lr, help="peak learning rate (Adam)")
    opt.add_argument(
        "--schedule",
        choices=("onecycle", "cosine", "constant"),
        default=TRAIN_DEFAULTS.schedule,
        help="learning-rate schedule over all steps",
    )
    opt.add_argument("--beta", type=float, default=TRAIN_DEFAULTS.beta, help="weight of the KL term")
    opt.add_argument(
        "--kl-warmup",
        type=int,
        default=TRAIN_DEFAULTS.kl_warmup,
        help="epochs over which the KL weight rises linearly from 0 to beta (0: off)",
    )
    opt.add_argument(
        "--augment",
        type=float,
        default=TRAIN_DEFAULTS.augment,
        help="probability that a training image is mildly warped (±8°, ±5%% scale, ±1 px; 0: off)",
    )
    opt.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default=TRAIN_DEFAULTS.precision,
        help="bf16 autocast or plain fp32; auto: bf16 where the GPU or CPU computes it natively",
    )
    opt.add_argument(
        "--eval-images",
        type=int,
        default=TRAIN_DEFAULTS.eval_images,
        help="test images (evenly spaced) for the per-epoch test -ELBO (0: all)",
    )
    add_run_arguments(parser, TRAIN_DEFAULTS.seed, TRAIN_DEFAULTS.device)
    parser.add_argument("--out", default="checkpoints/cvae-mnist", help="checkpoint directory to write")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    return parser


def _subset(cls: type, args: argparse.Namespace) -> dict:
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}


def main(argv: list[str] | None = None) -> None:
    def run(args: argparse.Namespace) -> None:
        check_output_directory(args.out)
        split = name_classes(load_split(args.data, args.data_dir, args.npm_tarball), args.class_names)
        train(
            CVAEConfig(**_subset(CVAEConfig, args), num_classes=len(split.class_names)),
            TrainConfig(**_subset(TrainConfig, args)),
            split,
            args.out,
            resume=args.resume,
        )

    run_cli(build_parser(), run, argv)


if __name__ == "__main__":
    main()
