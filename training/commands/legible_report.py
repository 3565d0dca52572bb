"""`python -m training.commands.legible_report` (make legible): what /v1/sample's min_confidence costs and
buys (training/legible_report.py); exit status 1 when the argmax agreement at 0.9 is under its bar."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from training.commands.arguments import command_parser
from training.legible_report import (
    AGREEMENT_AT_BAR,
    ARGMAX_BAR,
    ARGMAX_THRESHOLD,
    OUT,
    markdown_table,
    served_legible_report,
)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m training.commands.legible_report", __doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/cvae-mnist"), help="CVAE")
    parser.add_argument(
        "--classifier", type=Path, default=Path("checkpoints/digit-classifier"), help="its classifier"
    )
    parser.add_argument("--draws", type=int, default=1000, help="latents per class")
    parser.add_argument("--temperature", type=float, default=1.0, help="of the prior")
    parser.add_argument("--out", type=Path, default=OUT, help="the JSON report")
    args = parser.parse_args(argv)
    # One torch thread, as the service runs (CVAE_TORCH_THREADS): its 8-row blocks run 5x slower on two.
    torch.set_num_threads(1)
    report = served_legible_report(args.checkpoint, args.classifier, args.draws, args.temperature)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(report))
    agreement = report[AGREEMENT_AT_BAR]
    print(f"\nargmax = class, all accepted at {ARGMAX_THRESHOLD}: {agreement:.2%} (bar: {ARGMAX_BAR:.1%})")
    return 0 if agreement >= ARGMAX_BAR else 1


if __name__ == "__main__":
    sys.exit(main())
