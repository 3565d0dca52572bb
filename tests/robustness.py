"""What each robustness test sent and what came back, for docs/robustness.md.

A test calls `record(...)` (through the `robustness` fixture) once it has checked its answers. Where
CVAE_ROBUSTNESS_LOG names a file, each record is appended to it as one JSON line; `make robustness`
(tests/robustness_report.py) sets it, runs the tests and turns the lines into the table. Elsewhere a record
goes nowhere: the test's assertions are what pass or fail it.

CVAE_ROBUSTNESS_FULL=1 asks the tests that have a bounded and a full size (the soak, the fuzzer) for the
full one; `full_size` reads it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

LOG_VARIABLE = "CVAE_ROBUSTNESS_LOG"
FULL_VARIABLE = "CVAE_ROBUSTNESS_FULL"
# The fuzzer's hooks (tests/fuzz_hooks.py) append the status of each error answer they checked here.
FUZZ_ANSWERS_VARIABLE = "CVAE_FUZZ_ANSWERS"


@dataclass(frozen=True)
class Record:
    """One row of the table: `lost` is "nothing" or what was lost (a passing test loses nothing)."""

    test: str
    sent: str
    count: int
    came_back: str
    lost: str = "nothing"


def full_size() -> bool:
    return os.environ.get(FULL_VARIABLE) == "1"


def bounded(full: int, short: int) -> int:
    """`full` under `make robustness`, `short` in `make test`."""
    return full if full_size() else short


class Recorder:
    """Bound to one test: `record` writes that test's row."""

    def __init__(self, test: str) -> None:
        self.test = test

    def record(self, sent: str, count: int, came_back: str, lost: str = "nothing") -> None:
        path = os.environ.get(LOG_VARIABLE)
        if not path:
            return
        line = json.dumps(asdict(Record(self.test, sent, count, came_back, lost)))
        with Path(path).open("a") as log:
            log.write(line + "\n")
