"""Which device and precision a model runs with (model/device.py): `auto`, `cpu`, `cuda`, `cuda:N`, checked
early, and bfloat16 only where the hardware computes it natively."""

from __future__ import annotations

import pytest
import torch
from training_support import TINY_MLP, fast_config

from app import cli
from model import device
from model.checkpoint import load_checkpoint
from model.device import autocast_dtype, resolve_device
from training.train import train


def test_device_selection_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device(name)


def test_device_selection_with_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="2 GPU"):
        resolve_device("cuda:2")


def test_precision_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("fp32", cuda) is None
    assert autocast_dtype("bf16", cpu) == torch.bfloat16
    assert autocast_dtype("auto", cuda) == torch.bfloat16
    for native in (True, False):
        monkeypatch.setattr(device, "cpu_has_native_bf16", lambda native=native: native)
        assert autocast_dtype("auto", cpu) == (torch.bfloat16 if native else None)
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype("fp16", cpu)


@pytest.mark.usefixtures("cli_environment")
def test_cli_bad_device_is_one_line_and_non_zero(tiny_checkpoints, capsys: pytest.CaptureFixture) -> None:
    cvae, classifier = tiny_checkpoints
    assert cli.main(["--checkpoint", str(cvae), "--classifier", str(classifier), "--device", "tpu"]) != 0
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "no-bf16"])
def test_a_run_records_what_auto_resolved_to(
    native: bool, tmp_path, tiny_split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.json keeps `auto` as asked and, under "runtime", the device and precision the run used."""
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    train(TINY_MLP, fast_config(1, precision="auto"), tiny_split, tmp_path / "run")
    config = load_checkpoint(tmp_path / "run", "cvae").config
    assert config["training"]["precision"] == "auto"
    assert config["runtime"] == {"device": "cpu", "precision": "bf16" if native else "fp32", "processes": 1}
