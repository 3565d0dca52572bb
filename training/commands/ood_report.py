"""`python -m training.commands.ood_report` (make trust): how often `is_digit` is false, per kind of upload,
for a served model (training/ood_report.py); writes the JSON and prints a markdown table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.calibrate import DEFAULT_FLAG_RATE
from training.commands.arguments import add_run_arguments, command_parser, run_cli
from training.ood_report import markdown, measure


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "python -m training.commands.ood_report",
        "Flag rates and ROC AUC of is_digit per kind of upload (digits and non-digits).",
    )
    parser.add_argument("--checkpoint", default="checkpoints/cvae-mnist")
    parser.add_argument("--classifier", default="checkpoints/digit-classifier")
    parser.add_argument("--per-kind", type=int, default=500, help="uploads of each kind")
    parser.add_argument("--flag-rate", type=float, default=DEFAULT_FLAG_RATE, help="as CVAE_OOD_FLAG_RATE")
    parser.add_argument("--out", default="benchmarks/results/ood.json")
    add_run_arguments(parser, seed=1, device="cpu")
    return parser


def main(argv: list[str] | None = None) -> None:
    def run(args: argparse.Namespace) -> None:
        result = measure(args.checkpoint, args.classifier, args.per_kind, args.flag_rate, args.seed)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(markdown(result))

    run_cli(build_parser(), run, argv)


if __name__ == "__main__":
    main()
