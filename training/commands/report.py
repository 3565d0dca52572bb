"""`python -m training.commands.report` (make results): the results table, one markdown row per evaluated
CVAE checkpoint (training/report.py)."""

from __future__ import annotations

from pathlib import Path

from training.commands.arguments import command_parser
from training.report import results_table


def main(argv: list[str] | None = None) -> None:
    parser = command_parser("python -m training.commands.report", __doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="evaluated CVAE checkpoint directories")
    print(results_table(parser.parse_args(argv).checkpoints))


if __name__ == "__main__":
    main()
