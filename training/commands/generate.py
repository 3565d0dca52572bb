"""`cvae-generate`: a labelled synthetic dataset from a CVAE checkpoint (training/generate.py), the same
images, byte for byte, as GET /v1/dataset gives for the same arguments (docs/dataset.md)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from model.dataset_files import FORMATS
from model.inference import DEFAULT_BLOCK_ROWS
from model.synthetic import DatasetSpec
from training.commands.arguments import add_run_arguments, command_parser, run_cli
from training.generate import DRAWS_PER_IMAGE, MIN_DRAWS, PROG, write_dataset

logger = logging.getLogger(PROG)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        PROG,
        "Write a labelled synthetic dataset drawn from a CVAE: per_class images of every class, "
        "class by class, and datasheet.json saying what made them. The same arguments give the same bytes, "
        "and the images GET /v1/dataset gives for them.",
    )
    parser.add_argument("--checkpoint", default="checkpoints/cvae-mnist", help="CVAE checkpoint directory")
    parser.add_argument(
        "--out", required=True, help="directory to write; refused when it holds anything, unless --force"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="idx",
        help="idx: MNIST's train-images-idx3-ubyte and train-labels-idx1-ubyte; npz: dataset.npz with "
        "images, labels and class_names; png: <label>_<class name>/<index>.png",
    )
    parser.add_argument("--per-class", type=int, default=1000, help="images of each class")
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="scales the prior's standard deviation (> 0, <= 3)"
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="keep only images that the classifier reads as their class with at least this probability "
        "(0 to 1), the first of each class's latents that pass; default: every image as drawn",
    )
    parser.add_argument(
        "--classifier",
        default=None,
        help="classifier checkpoint for --min-confidence; default: the one beside --checkpoint that its OOD "
        "calibration was made with (the one served with it), else one trained on the same data",
    )
    parser.add_argument(
        "--max-draws",
        type=int,
        default=None,
        help=f"most latents drawn per class with --min-confidence; default: {DRAWS_PER_IMAGE} per image, "
        f"at least {MIN_DRAWS}",
    )
    parser.add_argument(
        "--block-rows",
        type=int,
        default=DEFAULT_BLOCK_ROWS,
        help="rows per network call; the bytes match a service with the same CVAE_BLOCK_ROWS",
    )
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty --out, replacing files of the same names"
    )
    add_run_arguments(parser, seed=0, device="auto")
    # One torch thread, as the service runs each batch (CVAE_TORCH_THREADS), so the bytes are its bytes.
    parser.set_defaults(threads=1)
    return parser


def main(argv: list[str] | None = None) -> None:
    command = shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)])

    def run(args: argparse.Namespace) -> None:
        written = write_dataset(
            args.checkpoint,
            DatasetSpec(args.per_class, args.seed, args.temperature, args.min_confidence),
            Path(args.out),
            args.format,
            force=args.force,
            device_name=args.device,
            block_rows=args.block_rows,
            classifier_path=args.classifier,
            max_draws=args.max_draws,
            command=command,
        )
        logger.info("wrote %d images (%s) and their datasheet to %s", written, args.format, args.out)

    run_cli(build_parser(), run, argv)


if __name__ == "__main__":
    main()
