"""`cvae-calibrate CHECKPOINT`: calibrate the service's `is_digit` / `ood_score` on held-out real data and
store it beside the checkpoint (training/calibrate.py)."""

from __future__ import annotations

import argparse
import json

from model.device import resolve_device
from training.augment import AUGMENTATIONS
from training.calibrate import calibrate_checkpoint
from training.commands.arguments import (
    add_checkpoint_arguments,
    add_run_arguments,
    checkpoint_and_data,
    command_parser,
    run_cli,
)
from training.outliers import DETECTOR_CHANNELS, EXPOSURE


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "cvae-calibrate",
        "Calibrate is_digit/ood_score on the held-out test split (even positions calibrate, odd positions "
        "check) and store it in the checkpoint's config.json.",
    )
    add_checkpoint_arguments(parser, "the classifier served with it")
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
    parser.add_argument(
        "--detector-channels",
        type=int,
        default=DETECTOR_CHANNELS,
        help="the outlier detector's width (its first convolution's channels; the hidden layer is 4x)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave config.json alone")
    add_run_arguments(parser, seed=0, device="cpu")
    return parser


def main(argv: list[str] | None = None) -> None:
    def run(args: argparse.Namespace) -> None:
        summary = calibrate_checkpoint(
            *checkpoint_and_data(args),
            held_out=args.held_out,
            augmentation=args.augment,
            exposure=args.exposure,
            seed=args.seed,
            device=resolve_device(args.device),
            write=not args.no_write,
            detector_channels=args.detector_channels,
        )
        print(json.dumps(summary))

    run_cli(build_parser(), run, argv)


if __name__ == "__main__":
    main()
