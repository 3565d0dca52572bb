"""benchmarks/cuda.py where no GPU is: a clear refusal, and a failing part recorded rather than raised."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks import cuda


def test_refuses_without_a_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "cuda.json"
    assert cuda.main(["--out", str(out)]) == 2
    assert "no GPU" in capsys.readouterr().err
    assert not out.exists()


def test_a_failing_part_is_recorded() -> None:
    def broken(value: int) -> dict[str, int]:
        raise ValueError(f"no good: {value}")

    recorded = cuda.recorded(broken, 7)
    assert list(recorded) == ["error"]
    assert "ValueError: no good: 7" in recorded["error"]
    assert cuda.recorded(lambda value: {"value": value}, 7) == {"value": 7}
