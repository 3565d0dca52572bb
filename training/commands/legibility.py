"""`cvae-legibility CHECKPOINT`: teach the network that foresees which latents come out legible (numbers are
written with it) the classifier's verdicts, and store it beside the checkpoint (training/legibility.py)."""

from __future__ import annotations

import argparse
import json

from model.device import resolve_device
from training.commands.arguments import add_run_arguments, command_parser, run_cli
from training.legibility import train_legibility


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "cvae-legibility",
        "Train the legibility network of a digits CVAE on its classifier's verdicts about decoded latents "
        "and store it in the checkpoint (legibility.safetensors, recorded in config.json).",
    )
    parser.add_argument("checkpoint", help="CVAE checkpoint directory (a model of the digits 0-9)")
    parser.add_argument(
        "--classifier", default="checkpoints/digit-classifier", help="the classifier served with it"
    )
    parser.add_argument(
        "--latents", type=int, default=120_000, help="latents decoded and judged (one in 8 held out)"
    )
    parser.add_argument("--epochs", type=int, default=20, help="passes over the judged latents")
    parser.add_argument("--no-write", action="store_true", help="print only; leave the checkpoint alone")
    add_run_arguments(parser, seed=0, device="cpu")
    return parser


def main(argv: list[str] | None = None) -> None:
    def run(args: argparse.Namespace) -> None:
        summary = train_legibility(
            args.checkpoint,
            args.classifier,
            count=args.latents,
            epochs=args.epochs,
            seed=args.seed,
            device=resolve_device(args.device),
            write=not args.no_write,
        )
        print(json.dumps(summary))

    run_cli(build_parser(), run, argv)


if __name__ == "__main__":
    main()
