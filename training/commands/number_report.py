"""`python -m training.commands.number_report` (make numbers): how well the numbers that /v1/number writes
read, and whether each is one hand (training/number_report.py); exit status 1 when fewer than 98% of their
digits read right. Also draws docs/numbers.png."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from training.commands.arguments import command_parser
from training.number_report import LEGIBLE_BAR, OUT, served_number_report


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m training.commands.number_report", __doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/cvae-mnist"), help="CVAE")
    parser.add_argument(
        "--classifier", type=Path, default=Path("checkpoints/digit-classifier"), help="its classifier"
    )
    parser.add_argument("--count", type=int, default=1000, help="numbers written (2 to 8 digits each)")
    parser.add_argument("--out", type=Path, default=OUT, help="the JSON report")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the service runs (CVAE_TORCH_THREADS)
    report = served_number_report(args.checkpoint, args.classifier, args.count)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{report['digits']} digits of {report['numbers']} numbers: read right {report['read_right']:.2%} "
        f"(bar {LEGIBLE_BAR:.0%}); one-hand ratio {report['one_hand_ratio']:.3f} (distance between the "
        "encodings of two digits of one number / of two digits of different numbers)"
    )
    return 0 if report["read_right"] >= LEGIBLE_BAR else 1


if __name__ == "__main__":
    sys.exit(main())
