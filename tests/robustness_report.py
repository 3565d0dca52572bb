"""`make robustness`: run every robustness test at full size and write docs/robustness.md from what they saw.

Each test records what it sent, how many, and what came back (tests/robustness.py); this script runs them
with CVAE_ROBUSTNESS_LOG pointing at a fresh file and CVAE_ROBUSTNESS_FULL=1 (the soak at 20,000 requests,
the fuzzer at 100 cases per operation, every kill point of the checkpoint crash test), then writes the table.
A test that fails is listed as failed, and the script exits non-zero. Run from the repository root (`make
robustness` does); about ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime
from pathlib import Path

from robustness import FULL_VARIABLE, LOG_VARIABLE, Record

ROOT = Path(__file__).resolve().parents[1]
# Section, then the test files whose records it shows, in the order of the issue that asked for them.
SECTIONS: dict[str, list[str]] = {
    "The schema and its clients": [
        "test_fuzz.py",
        "test_generated_client.py",
        "test_preprocess_properties.py",
    ],
    "Load": ["test_soak.py"],
    "Faults": [
        "test_serve_faults.py",
        "test_app_ops.py",
        "test_checkpoint_crash.py",
        "test_output_directory.py",
    ],
    "Limits and abuse": ["test_abuse.py"],
    "Supply chain": ["test_audit.py"],
}
_TEMPORARY = re.compile(r"/tmp/(pytest-of-[^/]+/pytest-\d+|tmp[\w-]+)/")


def run_tests(log: Path, junit: Path) -> int:
    files = [f"tests/{name}" for names in SECTIONS.values() for name in names]
    env = {**os.environ, LOG_VARIABLE: str(log), FULL_VARIABLE: "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *files]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def test_outcomes(junit: Path) -> dict[str, str]:
    """pytest's node id -> passed, failed or skipped, from its JUnit XML."""
    outcomes = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        outcome = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        outcomes[f"{path}::{case.get('name')}"] = outcome
    return outcomes


def _cell(text: str, limit: int = 400) -> str:
    text = _TEMPORARY.sub("<tmp>/", text).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(records: list[Record], outcomes: dict[str, str], seconds: float, load: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    lines = [
        "# Robustness: what was sent, what came back",
        "",
        "Written by `make robustness` (tests/robustness_report.py), which runs the tests below at full size "
        "and writes what each one sent and saw. `make test` runs the same tests with smaller counts. Every "
        "row is a passing test unless it says otherwise; a test that loses anything fails.",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d} at commit {commit.stdout.strip() or 'unknown'}, "
        f"{platform.machine()} with {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{seconds / 60:.1f} min; load average (1 min) {load} at the start: counts and outcomes do not "
        "depend on it, rates and times do.",
    ]
    failed = sorted(node for node, outcome in outcomes.items() if outcome == "failed")
    if failed:
        lines += ["", "**Failed:** " + ", ".join(f"`{node}`" for node in failed)]
    for section, files in SECTIONS.items():
        rows = [r for r in records if r.test.split("::")[0].removeprefix("tests/") in files]
        rows.sort(key=lambda r: files.index(r.test.split("::")[0].removeprefix("tests/")))
        lines += [
            "",
            f"## {section}",
            "",
            "| test | sent | how many | came back | lost |",
            "| --- | --- | ---: | --- | --- |",
        ]
        for r in rows:
            name = r.test.split("::", 1)[1]
            status = outcomes.get(r.test, "passed")
            lost = r.lost if status == "passed" else f"{r.lost} (test {status})"
            cells = [f"`{_cell(name, 120)}`", _cell(r.sent), f"{r.count:,}", _cell(r.came_back), _cell(lost)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "robustness.md", help="the table's file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        log, junit = Path(work) / "records.jsonl", Path(work) / "junit.xml"
        log.touch()
        load = Path("/proc/loadavg").read_text().split()[0]
        start = datetime.now(UTC)
        status = run_tests(log, junit)
        seconds = (datetime.now(UTC) - start).total_seconds()
        records = [Record(**json.loads(line)) for line in log.read_text().splitlines()]
        outcomes = test_outcomes(junit) if junit.exists() else {}
    args.out.write_text(render(records, outcomes, seconds, load))
    print(f"{len(records)} records of {len(outcomes)} tests written to {args.out}; pytest's status {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
