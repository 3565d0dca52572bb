import hashlib
import json
import os

import pytest
import torch

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.classifier import DigitClassifier
from model.config import ClassifierConfig, CVAEConfig
from model.cvae import CVAE


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = CVAE(CVAEConfig(arch="conv", latent_dim=3, channels=4)).eval()
    save_checkpoint(tmp_path / "ckpt", model, {"seed": 0, "metrics": {"test_neg_elbo": 1.0}})
    return tmp_path / "ckpt", model


def test_round_trip_is_bit_exact(saved) -> None:
    path, model = saved
    loaded = load_checkpoint(path, "cvae")
    original, restored = model.state_dict(), loaded.model.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    z, y = torch.randn(2, 3), torch.tensor([1, 2])
    assert torch.equal(model.decode(z, y), loaded.model.decode(z, y))
    assert loaded.config["seed"] == 0 and loaded.config["metrics"]["test_neg_elbo"] == 1.0
    assert not loaded.model.training


def test_config_records_what_design_md_asks_for(saved) -> None:
    config = json.loads((saved[0] / "config.json").read_text())
    for field in ("format_version", "kind", "model", "torch_version", "created", "weights_sha256"):
        assert field in config
    assert config["model"]["arch"] == "conv" and config["model"]["latent_dim"] == 3


def test_classifier_round_trip(tmp_path) -> None:
    model = DigitClassifier(ClassifierConfig(channels=4, hidden_dim=8)).eval()
    save_checkpoint(tmp_path, model)
    loaded = load_checkpoint(tmp_path, "classifier").model
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(model(x), loaded(x))


def _edit_config(path, **changes) -> None:
    config = json.loads((path / "config.json").read_text())
    for key, value in changes.items():
        if key == "model":
            config["model"].update(value)
        elif value is None:
            del config[key]
        else:
            config[key] = value
    (path / "config.json").write_text(json.dumps(config))


def _assert_one_line(path, match: str, **kwargs) -> None:
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message


def test_missing_directory_or_config(tmp_path) -> None:
    _assert_one_line(tmp_path / "nowhere", "config.json: missing")


def test_missing_weights(saved) -> None:
    (saved[0] / "model.safetensors").unlink()
    _assert_one_line(saved[0], "model.safetensors: missing")


def test_truncated_weights(saved) -> None:
    weights = saved[0] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    _assert_one_line(saved[0], "sha256 mismatch")


def test_corrupted_byte(saved) -> None:
    weights = saved[0] / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    _assert_one_line(saved[0], "sha256 mismatch")


def test_truncated_file_with_matching_hash_is_unreadable(saved) -> None:
    weights = saved[0] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    _edit_config(saved[0], weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())
    _assert_one_line(saved[0], "unreadable safetensors")


def test_wrong_shape(saved) -> None:
    _edit_config(saved[0], model={"latent_dim": 5})
    _assert_one_line(saved[0], "wrong shape for")


def test_wrong_architecture(saved) -> None:
    _edit_config(saved[0], model={"arch": "mlp"})
    _assert_one_line(saved[0], "tensors do not match")


def test_unknown_version(saved) -> None:
    _edit_config(saved[0], format_version=99)
    _assert_one_line(saved[0], "unknown format version 99")


def test_not_json(saved) -> None:
    (saved[0] / "config.json").write_text("{not json")
    _assert_one_line(saved[0], "not valid JSON")


def test_missing_field(saved) -> None:
    _edit_config(saved[0], weights_sha256=None)
    _assert_one_line(saved[0], "missing field 'weights_sha256'")


def test_bad_model_config(saved) -> None:
    _edit_config(saved[0], model={"arch": "transformer"})
    _assert_one_line(saved[0], "bad model config")


def test_wrong_kind(saved) -> None:
    _assert_one_line(saved[0], "expected 'classifier'", expected_kind="classifier")


def test_a_crash_mid_write_leaves_the_previous_checkpoint_intact(saved, monkeypatch) -> None:
    path, _ = saved
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    other = CVAE(CVAEConfig(arch="conv", latent_dim=3, channels=4))
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, other)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before  # no temporary files left either
    load_checkpoint(path, "cvae")


def test_files_are_readable_by_others_like_any_written_file(saved) -> None:
    for name in ("model.safetensors", "config.json"):
        assert (saved[0] / name).stat().st_mode & 0o777 == 0o644
