"""`cvae-generate`: a labelled synthetic dataset from a CVAE checkpoint (training/generate.py), images of each
class or, with --numbers, of written numbers; the same images, byte for byte, as GET /v1/dataset gives for
the same arguments (docs/dataset.md)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from model.dataset_files import FORMATS, NUMBER_FORMATS
from model.inference import DEFAULT_BLOCK_ROWS
from model.legible import TooFewLegibleError
from model.number_sets import MAX_LENGTH, MIN_LENGTH, NumberSetSpec
from model.synthetic import DatasetSpec
from training.commands.arguments import add_run_arguments, command_parser, run_cli
from training.generate import DRAWS_PER_IMAGE, MIN_DRAWS, PROG, write_dataset, write_numbers

logger = logging.getLogger(PROG)
PER_CLASS = 1000
# The options of a dataset of each class, and of a set of numbers: either kind refuses the other's, as
# GET /v1/dataset does (--max-draws serves --min-confidence, read only with it; --classifier serves
# --min-confidence and --numbers, whose digits it judges).
CLASS_OPTIONS = ("per_class", "min_confidence")
NUMBER_OPTIONS = ("min_length", "max_length")


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        PROG,
        "Write a labelled synthetic dataset drawn from a CVAE: per_class images of every class, "
        "class by class, or with --numbers images of written numbers, and datasheet.json saying what made "
        "them. The same arguments give the same bytes, and the images GET /v1/dataset gives for them.",
    )
    parser.add_argument("--checkpoint", default="checkpoints/cvae-mnist", help="CVAE checkpoint directory")
    parser.add_argument(
        "--out", required=True, help="directory to write; refused when it holds anything, unless --force"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="idx: MNIST's train-images-idx3-ubyte and train-labels-idx1-ubyte; npz: "
        "dataset.npz with images, labels and class_names; png: <label>_<class name>/<index>.png. With "
        "--numbers: png, images/<index>.png and labels.tsv ('<path>\\t<text>' lines); npz: dataset.npz with "
        "images, widths, labels, boxes and seeds. Default: idx, or png with --numbers",
    )
    parser.add_argument(
        "--per-class", type=int, default=None, help=f"images of each class; default: {PER_CLASS}"
    )
    numbers = parser.add_argument_group("numbers", "a set of written numbers, for text recognisers")
    numbers.add_argument(
        "--numbers",
        type=int,
        default=None,
        metavar="COUNT",
        help="write COUNT images of numbers instead of images of each class, each in a hand of its own, "
        "labelled with its digits (the model's classes must be the digits)",
    )
    numbers.add_argument(
        "--min-length", type=int, default=None, help=f"fewest digits of a number; default: {MIN_LENGTH}"
    )
    numbers.add_argument(
        "--max-length", type=int, default=None, help=f"most digits of a number; default: {MAX_LENGTH}"
    )
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
        help="classifier checkpoint for --min-confidence and the one that judges --numbers' digits; default: "
        "the one beside --checkpoint that its OOD calibration was made with (the one served with it), else "
        "one trained on the same data",
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
        with _made_only_on_success(Path(args.out)):
            if args.numbers is not None:
                run_numbers(args, command)
            else:
                run_classes(args, command)

    run_cli(build_parser(), run, argv)


def run_classes(args: argparse.Namespace, command: str) -> None:
    """cvae-generate: per_class images of every class, written into --out."""
    _refuse(args, NUMBER_OPTIONS, "only with --numbers")
    if args.per_class is not None and args.per_class < 1:
        raise ValueError(f"--per-class must be at least 1 (got {args.per_class})")
    file_format = args.format or "idx"
    try:
        written = write_dataset(
            args.checkpoint,
            DatasetSpec(
                PER_CLASS if args.per_class is None else args.per_class,
                args.seed,
                args.temperature,
                args.min_confidence,
            ),
            Path(args.out),
            file_format,
            force=args.force,
            device_name=args.device,
            block_rows=args.block_rows,
            classifier_path=args.classifier,
            max_draws=args.max_draws,
            command=command,
        )
    except TooFewLegibleError as error:  # the same advice as the service's 422 gives
        raise TooFewLegibleError(
            f"{error}: ask for fewer images (--per-class), a lower --min-confidence or --temperature, "
            "another --seed, or more --max-draws"
        ) from None
    logger.info("wrote %d images (%s) and their datasheet to %s", written, file_format, args.out)


@contextmanager
def _made_only_on_success(out: Path) -> Iterator[None]:
    """A run that fails leaves no empty --out behind that it made itself (one there before stays)."""
    existed = out.exists()
    try:
        yield
    except BaseException:
        if not existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def run_numbers(args: argparse.Namespace, command: str) -> None:
    """cvae-generate --numbers: the set of numbers the options ask for, written into --out."""
    _refuse(args, CLASS_OPTIONS, "for images of each class, not with --numbers")
    file_format = args.format or "png"
    if file_format not in NUMBER_FORMATS:
        raise ValueError(
            f"--numbers writes --format {' or '.join(NUMBER_FORMATS)}: {file_format} holds images of one size"
        )
    spec = NumberSetSpec(
        args.numbers,
        args.seed,
        args.temperature,
        MIN_LENGTH if args.min_length is None else args.min_length,
        MAX_LENGTH if args.max_length is None else args.max_length,
    )
    written = write_numbers(
        args.checkpoint,
        spec,
        Path(args.out),
        file_format,
        force=args.force,
        device_name=args.device,
        block_rows=args.block_rows,
        classifier_path=args.classifier,
        command=command,
    )
    logger.info("wrote %d numbers (%s) and their datasheet to %s", written, file_format, args.out)


def _refuse(args: argparse.Namespace, options: tuple[str, ...], why: str) -> None:
    """A ValueError naming the `options` given, when any is."""
    given = [f"--{option.replace('_', '-')}" for option in options if getattr(args, option) is not None]
    if given:
        raise ValueError(f"{' and '.join(given)}: {why}")


if __name__ == "__main__":
    main()
