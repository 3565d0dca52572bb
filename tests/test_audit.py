"""The code check of `make audit`: nothing in the project's packages can unpickle, and the check sees it."""

from __future__ import annotations

from pathlib import Path

from audit import unpickling_findings


def test_the_project_never_unpickles() -> None:
    assert unpickling_findings() == []


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
