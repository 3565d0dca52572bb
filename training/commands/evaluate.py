"""`cvae-evaluate CHECKPOINT`: every metric as JSON, written into config.json, plus the figures
(training/evaluate.py)."""

from __future__ import annotations

import argparse
import json

from model.device import resolve_device
from training.commands.arguments import (
    add_checkpoint_arguments,
    add_options,
    add_run_arguments,
    checkpoint_and_data,
    chosen,
    command_parser,
    run_cli,
)
from training.evaluate import EvaluationOptions, evaluate_checkpoint


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "cvae-evaluate",
        "Evaluate a CVAE checkpoint on the test split: -ELBO, IWAE bound, label inference, conditional "
        "sample accuracy and diversity. Prints JSON, stores it in the checkpoint's config.json and writes "
        "samples.png and loss_curves.png beside it.",
    )
    add_checkpoint_arguments(parser, "digit-classifier checkpoint that judges generated samples")
    add_options(parser, EvaluationOptions())
    parser.add_argument(
        "--cas",
        action="store_true",
        help="also the classification accuracy score: the judging classifier's recipe trained on synthetic "
        "images, on the real training split and on both, each tested on the real test split (minutes); "
        "without it, a score recorded earlier for the same weights is kept",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave config.json and figures alone"
    )
    add_run_arguments(parser, seed=0, device="auto")
    return parser


def main(argv: list[str] | None = None) -> None:
    def run(args: argparse.Namespace) -> None:
        metrics = evaluate_checkpoint(
            *checkpoint_and_data(args),
            EvaluationOptions(**chosen(EvaluationOptions, args)),
            seed=args.seed,
            device=resolve_device(args.device),
            cas=args.cas,
            write=not args.no_write,
        )
        print(json.dumps(metrics, indent=2))

    run_cli(build_parser(), run, argv)


if __name__ == "__main__":
    main()
