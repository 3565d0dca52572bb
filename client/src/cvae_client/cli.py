"""`cvae-client`: the service from the shell, through `client.Client`.

    cvae-client sample 7 -n 16 -o sevens.png
    cvae-client reconstruct my-digit.jpg -o reconstruction.png
    cvae-client number 2026 --style-of my-digit.jpg

The service's address comes from --url or $CVAE_URL, its API key from $CVAE_API_KEY only (an option would
leave the key in the shell's history and in `ps`). Exit status: 0 done, 1 the service refused or could not
be reached (one line on stderr with the status and the service's detail), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from cvae_client.errors import CVAEError
from cvae_client.images import to_pil
from cvae_client.transport import DEFAULT_TIMEOUT_S, DEFAULT_URL, Client
from cvae_client.types import Decision, Encoding, JSONAnswer, ModelInfo, ModelList, Reconstruction

Command = Callable[[Client, argparse.Namespace], None]
A = TypeVar("A", bound=JSONAnswer)
Ask = Callable[[Client, argparse.Namespace], A]
Show = Callable[[A, argparse.Namespace], None]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with Client(args.url, timeout=args.timeout) as cvae:
            args.command(cvae, args)
    except UnknownClassError as error:
        print(f"cvae-client: {error}", file=sys.stderr)
        return 2
    except CVAEError as error:
        return _fail(str(error))
    except OSError as error:  # an output file that cannot be written
        return _fail(f"{error.strerror or error}: {error.filename}" if error.filename else str(error))
    return 0


def _fail(message: str) -> int:
    print(f"cvae-client: {message}", file=sys.stderr)
    return 1


# The commands ----------------------------------------------------------------------------------------


class UnknownClassError(ValueError):
    """A class named that the model does not have: a bad argument, found once the model's names are known."""


def class_index(cvae: Client, label: str | None, model: str | None) -> int | None:
    """The class `label` names: its index, or its name as the model gives it (Sneaker, any case)."""
    if label is None:
        return None
    if label.isdigit():
        return int(label)
    info = cvae.model(model)
    names = [name.casefold() for name in info.class_names]
    if label.casefold() not in names:
        raise UnknownClassError(
            f"no class {label!r} in model {info.name} (its classes: {', '.join(info.class_names)})"
        )
    return names.index(label.casefold())


def _label(cvae: Client, args: argparse.Namespace) -> int | None:
    return class_index(cvae, args.label, args.model)


def sample(cvae: Client, args: argparse.Namespace) -> None:
    grid = cvae.sample_png(label=_label(cvae, args), n=args.n, nrow=args.nrow, **_generation_options(args))
    args.output.write_bytes(grid.png)
    images = "image" if args.n == 1 else "images"
    print(f"wrote {args.output}: {args.n} {images}, seed {grid.seed} (--seed {grid.seed} gives them again)")


def number(cvae: Client, args: argparse.Namespace) -> None:
    """With --style-of, in the style that /v1/encode reads from the image: its posterior mean, as the
    service's /v1/transfer takes an upload's style."""
    style = None if args.style_of is None else cvae.encode(args.style_of, model=args.model).mu
    written = cvae.number(
        args.text,
        z=style,
        seed=args.seed,
        temperature=args.temperature,
        model=args.model,
        height=args.height,
    )
    # Named after the answer: the seed is the service's choice when none is given.
    output = args.output or Path(f"number-{written.text}-seed-{written.seed}.png")
    written.pil_image().save(output, format="PNG")
    height, width = written.image.shape
    hand = "" if args.style_of is None else f" in the style of {args.style_of}"
    boxes = " ".join(",".join(map(str, box)) for box in written.boxes)
    print(
        f"wrote {output}: {written.text}{hand} ({width}x{height}), seed {written.seed} "
        f"(--seed {written.seed} gives it again); boxes {boxes}"
    )


def _generation_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options that sample and dataset share, as the client's keyword arguments."""
    return {
        "seed": args.seed,
        "temperature": args.temperature,
        "min_confidence": args.min_confidence,
        "model": args.model,
    }


def _answered(ask: Ask[A]) -> Callable[[Show[A]], Command]:
    """A command with --json, from the function that shows `ask`'s answer for reading: the --json handling
    in one place, so that each such command prints the service's answer as it is the same way."""

    def command(show: Show[A]) -> Command:
        def run(cvae: Client, args: argparse.Namespace) -> None:
            answer = ask(cvae, args)
            if args.json:
                _print_json(answer.raw)
            else:
                show(answer, args)

        return run

    return command


@_answered(lambda cvae, args: cvae.reconstruct(args.image, label=_label(cvae, args), model=args.model))
def reconstruct(answer: Reconstruction, args: argparse.Namespace) -> None:
    _print_decision(answer)
    loss = answer.loss
    print(f"loss: rec {loss.rec:.1f}, kld {loss.kld:.1f}, elbo {loss.elbo:.1f} nats")
    if args.output:
        to_pil(answer.reconstruction).save(args.output, format="PNG")
        print(f"wrote {args.output}")


@_answered(lambda cvae, args: cvae.encode(args.image, label=_label(cvae, args), model=args.model))
def encode(answer: Encoding, args: argparse.Namespace) -> None:
    _print_decision(answer)
    _print_latent(answer)


@_answered(lambda cvae, args: cvae.model(args.name))
def model(info: ModelInfo, args: argparse.Namespace) -> None:
    print(_model_line(info))
    print(f"classes: {', '.join(info.class_names)}")
    scalars = {name: value for name, value in info.metrics.items() if isinstance(value, int | float)}
    print(f"metrics: {', '.join(f'{name} {value}' for name, value in scalars.items())}")


@_answered(lambda cvae, args: cvae.models())
def models(listed: ModelList, args: argparse.Namespace) -> None:
    for info in listed.models:
        default = " (default)" if info.name == listed.default else ""
        print(f"{_model_line(info)}{default}; classes: {', '.join(info.class_names)}")


def dataset(cvae: Client, args: argparse.Namespace) -> None:
    download = cvae.dataset(args.per_class, args.format, to=args.output, **_generation_options(args))
    assert download.path is not None  # given `to`, the client writes the file
    seed = "" if download.seed is None else f", seed {download.seed}"
    print(f"wrote {download.path} ({download.path.stat().st_size} bytes{seed})")


# What they print ---------------------------------------------------------------------------------------


def _print_json(body: Any) -> None:
    print(json.dumps(body, indent=2))


def _print_decision(answer: Decision) -> None:
    """The class first, alone on its line, so that `| head -1` gives it."""
    print(answer.class_name)
    how = "given" if answer.digit_source == "given" else "inferred by the classifier"
    print(f"label: {answer.label} ({how}, probability {answer.probabilities[answer.label]:.3f})")
    if answer.is_digit is None:
        print("is_digit: unknown (the model has no calibration)")
    else:
        print(f"is_digit: {'yes' if answer.is_digit else 'no'} (ood_score {answer.ood_score:.2f})")
    for note in answer.notes:
        print(f"note: {note}")
    # By label: an answer names only its own class.
    print("probabilities: " + ", ".join(f"{i} {p:.3f}" for i, p in enumerate(answer.probabilities)))


def _print_latent(answer: Encoding) -> None:
    print("mu: " + " ".join(f"{value:.3f}" for value in answer.mu))
    print("logvar: " + " ".join(f"{value:.3f}" for value in answer.logvar))


def _model_line(info: ModelInfo) -> str:
    architecture = f"{info.architecture} CVAE, latent_dim {info.latent_dim}, loss {info.loss}"
    return f"{info.name}: {architecture}, on {info.device}"


# Arguments -------------------------------------------------------------------------------------------


def _service_url(text: str) -> str:
    try:
        scheme = httpx.URL(text).scheme
    except httpx.InvalidURL as error:
        raise argparse.ArgumentTypeError(f"not a URL: {text} ({error})") from None
    if scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"not an http:// or https:// URL: {text}")
    return text


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, run: Command, summary: str
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(command=run)
    return parser


def _model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="which served model (default: the service's default model)")


def _upload_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=_existing_file, help="an image file: PNG, JPEG, ...; either polarity")
    parser.add_argument(
        "--label",
        "--digit",
        help="the class shown, by index or name (default: the model's classifier infers it)",
    )
    _model_option(parser)
    parser.add_argument("--json", action="store_true", help="print the service's JSON answer as it is")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cvae-client",
        description="Call a cvae-digits service. Its API key, if it has one, comes from $CVAE_API_KEY.",
    )
    parser.add_argument(
        "--url",
        type=_service_url,
        default=os.environ.get("CVAE_URL") or DEFAULT_URL,  # argparse checks a default string with type
        help=f"the service (default: $CVAE_URL, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help=f"seconds (default: {DEFAULT_TIMEOUT_S:g})"
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    grid = _command(commands, "sample", sample, "new images of a class, as one PNG grid")
    grid.add_argument("label", help="the digit, or the class of --model by index or name (Sneaker)")
    grid.add_argument("-n", type=int, default=1, help="how many images (default: 1)")
    grid.add_argument("--seed", type=int, help="the same seed gives the same images (default: random)")
    grid.add_argument("--temperature", type=float, help="scales the prior's spread (default: 1)")
    grid.add_argument(
        "--min-confidence", type=float, help="only images the classifier reads as the class this surely"
    )
    grid.add_argument("--nrow", type=int, help="images per row (default: a square grid)")
    grid.add_argument("-o", "--output", type=Path, default=Path("samples.png"), help="(default: samples.png)")
    _model_option(grid)

    writing = _command(commands, "number", number, "a number written in one hand, as one PNG")
    writing.add_argument("text", help="1 to 16 of the digits 0-9, e.g. 2026 (leading zeros are written)")
    writing.add_argument(
        "--seed", type=int, help="the same seed gives the same image: style and variation (default: random)"
    )
    writing.add_argument("--temperature", type=float, help="scales the prior's spread (default: 1)")
    writing.add_argument("--height", type=int, help="pixels, 28 to 224 (default: 28)")
    writing.add_argument(
        "--style-of",
        type=_existing_file,
        metavar="IMAGE",
        help="in the style of a digit of your own, an image file (default: a style drawn from the seed)",
    )
    writing.add_argument(
        "-o", "--output", type=Path, help="(default: number-TEXT-seed-SEED.png, in the current directory)"
    )
    _model_option(writing)

    upload = _command(commands, "reconstruct", reconstruct, "read an image, and reconstruct it")
    _upload_options(upload)
    upload.add_argument(
        "-o", "--output", type=Path, help="write the reconstruction, 28x28 PNG (default: none)"
    )

    _upload_options(_command(commands, "encode", encode, "read an image, and print its latent mu and logvar"))

    card = _command(commands, "model", model, "a served model: its classes and metrics")
    card.add_argument("name", nargs="?", help="the model (default: the service's default model)")
    card.add_argument("--json", action="store_true", help="print the whole model card as JSON")

    listing = _command(commands, "models", models, "every served model")
    listing.add_argument("--json", action="store_true", help="print the service's JSON answer as it is")

    data = _command(commands, "dataset", dataset, "download a labelled synthetic dataset")
    data.add_argument("per_class", type=int, help="images of each class")
    data.add_argument("--format", choices=["npz", "idx"], default="npz", help="(default: npz)")
    data.add_argument("--seed", type=int, help="the same seed gives the same bytes (default: the service's)")
    data.add_argument("--temperature", type=float, help="scales the prior's spread (default: 1)")
    data.add_argument(
        "--min-confidence", type=float, help="only images the classifier reads as their class this surely"
    )
    data.add_argument(
        "-o",
        "--output",
        default=".",  # a str, not a Path, which would drop the trailing slash that asks for a new directory
        help="a file, or a directory for the service's file name, made if it ends with / (default: .)",
    )
    _model_option(data)
    return parser.parse_args(argv)
