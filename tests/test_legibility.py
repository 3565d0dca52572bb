"""The legibility network (model/legibility.py) and cvae-legibility (training/legibility.py): it learns which
latents read right, is stored with the checkpoint it was trained for, and is used only with the classifier
whose verdicts it learned."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_checkpoint, save_checkpoint
from model.legibility import LEGIBILITY_FILE, stored_foresight
from training.commands.legibility import main
from training.legibility import HELD_OUT, draw_latents, fit


def test_the_network_learns_which_latents_read_right() -> None:
    z, labels = draw_latents(6000, 4, 10, seed=1)
    # A rule of the kind a classifier's verdicts follow: each digit legible in its own part of the space.
    legible = torch.where(labels % 2 == 0, z[:, 0] > 0, z[:, 1] + z[:, 2] < 0)
    net, metrics = fit(z, labels, legible, 10, epochs=12, seed=0)
    assert metrics["held_out"] == len(z) // HELD_OUT
    assert 0.3 < metrics["legible_share"] < 0.7
    assert metrics["accuracy"] > 0.93 and metrics["precision"] > 0.9 and metrics["recall"] > 0.9
    # Latents drawn afresh: the network generalises, not only remembers.
    fresh_z, fresh_labels = draw_latents(2000, 4, 10, seed=2)
    truth = torch.where(fresh_labels % 2 == 0, fresh_z[:, 0] > 0, fresh_z[:, 1] + fresh_z[:, 2] < 0)
    with torch.inference_mode():
        assert ((net(fresh_z, fresh_labels) > 0) == truth).float().mean() > 0.92


def test_latents_span_the_temperatures_numbers_are_written_at() -> None:
    z, labels = draw_latents(20000, 8, 10, seed=0)
    spread = z.std(dim=1)
    assert spread.min() < 0.25 and spread.max() > 2.5
    assert torch.equal(torch.bincount(labels), torch.full((10,), 2000))


def test_cvae_legibility_stores_the_network_used_only_with_its_classifier(
    tiny_checkpoints: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cvae_dir = tmp_path / "cvae"
    shutil.copytree(tiny_checkpoints[0], cvae_dir)
    classifier_dir = tiny_checkpoints[1]
    main([str(cvae_dir), "--classifier", str(classifier_dir), "--latents", "640", "--epochs", "1"])
    summary = json.loads(capsys.readouterr().out)
    config = json.loads((cvae_dir / "config.json").read_text())
    assert config["legibility"] == summary and LEGIBILITY_FILE in config["files"]
    assert summary["metrics"]["held_out"] == 80
    cvae, classifier = load_checkpoint(cvae_dir, "cvae"), load_checkpoint(classifier_dir, "classifier")
    foresee = stored_foresight(cvae, classifier)
    assert foresee is not None
    likely = foresee(torch.arange(8) % 10, torch.randn(8, cvae.model.cfg.latent_dim))
    assert likely.shape == (8,) and ((likely >= 0) & (likely <= 1)).all()
    # Another classifier's verdicts may differ: the network is not used with it.
    other = tmp_path / "other-classifier"
    with torch.no_grad():
        classifier.model.head[-1].bias += 1
    save_checkpoint(other, classifier.model, {"name": "other"})
    with caplog.at_level(logging.WARNING):
        assert stored_foresight(cvae, load_checkpoint(other, "classifier")) is None
    assert "cvae-legibility runs again" in caplog.text


def test_only_a_digits_model_gets_a_legibility_network(
    tiny_checkpoints: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = load_checkpoint(tiny_checkpoints[0], "cvae")
    names = [f"garment {i}" for i in range(10)]
    save_checkpoint(tmp_path / "clothes", loaded.model, {"data": {"name": "tiny", "class_names": names}})
    with pytest.raises(SystemExit) as ended:
        main([str(tmp_path / "clothes"), "--classifier", str(tiny_checkpoints[1]), "--latents", "64"])
    assert ended.value.code == 2
    assert "only a model of the digits 0-9 writes numbers" in capsys.readouterr().err
