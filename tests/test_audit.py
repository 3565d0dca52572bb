"""The code check of `make audit`: nothing in the project's packages can unpickle, and the check sees it."""

from __future__ import annotations

from pathlib import Path

from audit import unpickling_findings
from robustness import Recorder

ROOT = Path(__file__).resolve().parents[1]


def test_the_project_never_unpickles(robustness: Recorder) -> None:
    assert unpickling_findings() == []
    robustness.record(
        sent="every Python file of model/, app/ and training/ read for pickle imports and torch.load calls",
        count=sum(1 for package in ("model", "app", "training") for _ in (ROOT / package).rglob("*.py")),
        came_back="no pickle import, no torch.load without weights_only=True",
    )


def test_the_check_finds_pickle_imports_and_unsafe_torch_loads(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "training").mkdir()
    (tmp_path / "model" / "a.py").write_text("import pickle\n")
    (tmp_path / "training" / "b.py").write_text(
        "x = torch.load(path, weights_only=True)\ny = torch.load(path)\n"
    )
    assert unpickling_findings(tmp_path) == [
        "model/a.py:1: imports a pickle module",
        "training/b.py:2: torch.load without weights_only=True",
    ]
