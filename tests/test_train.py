"""End-to-end training on data the test makes: checkpoints, resume, reproducibility, the CLIs."""

import json
from pathlib import Path

import pytest
import torch
from data_support import write_split_as_idx
from training_support import TINY_CONV, TINY_MLP, checkpoint_weights, fast_config

from model.checkpoint import load_checkpoint
from model.config import CVAEConfig
from training.commands import train as cli
from training.data import evenly_spaced, to_tensors
from training.train import STATE_FILE, Run, mean_negative_elbo, save_epoch, train


def _tiny_cli_args(data_dir: Path, out: Path) -> list[str]:
    """cvae-train options for a small MLP on IDX files the test wrote."""
    return [
        "--data",
        "idx",
        "--data-dir",
        str(data_dir),
        "--arch",
        "mlp",
        "--hidden-dim",
        "32",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]


@pytest.mark.parametrize(
    ("model_cfg", "precision"),
    [(TINY_MLP, "fp32"), (TINY_CONV, "fp32"), (TINY_CONV, "bf16")],
    ids=["mlp", "conv", "conv-bf16"],
)
def test_tiny_run_writes_a_loadable_checkpoint_whose_loss_fell(
    tmp_path, tiny_split, model_cfg, precision
) -> None:
    train(model_cfg, fast_config(2, precision=precision), tiny_split, tmp_path / "run")
    loaded = load_checkpoint(tmp_path / "run", "cvae")
    history = loaded.config["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert history[1]["test_neg_elbo"] < history[0]["test_neg_elbo"]
    assert loaded.config["data"]["train_size"] == 300 and loaded.config["seed"] == 0
    assert CVAEConfig.from_dict(loaded.config["model"]) == model_cfg
    # What the run resolved (here given, not auto) is recorded beside what was asked.
    assert loaded.config["runtime"] == {"device": "cpu", "precision": precision, "processes": 1}


def test_resume_continues_from_the_saved_epoch_and_matches_an_uninterrupted_run(tmp_path, tiny_split) -> None:
    train(TINY_MLP, fast_config(3), tiny_split, tmp_path / "full")

    def save_then_die(run: Run) -> None:
        save_epoch(run)
        if len(run.history) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TINY_MLP, fast_config(3), tiny_split, tmp_path / "resumed", save=save_then_die)
    assert json.loads((tmp_path / "resumed" / "config.json").read_text())["epochs"] == 1
    train(TINY_MLP, fast_config(3), tiny_split, tmp_path / "resumed", resume=True)
    config = json.loads((tmp_path / "resumed" / "config.json").read_text())
    assert [h["epoch"] for h in config["training"]["history"]] == [1, 2, 3]
    full, resumed = checkpoint_weights(tmp_path / "full"), checkpoint_weights(tmp_path / "resumed")
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_resume_refuses_a_state_from_another_epoch(tmp_path, tiny_split) -> None:
    train(TINY_MLP, fast_config(1), tiny_split, tmp_path / "a")
    train(TINY_MLP, fast_config(2), tiny_split, tmp_path / "b")
    (tmp_path / "a" / STATE_FILE).write_bytes((tmp_path / "b" / STATE_FILE).read_bytes())
    with pytest.raises(ValueError, match="died mid-save"):
        train(TINY_MLP, fast_config(3), tiny_split, tmp_path / "a", resume=True)


def test_same_seed_same_result_other_seed_other_result(tmp_path, tiny_split) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        train(TINY_MLP, fast_config(1, seed=seed), tiny_split, tmp_path / name)
    a, b, c = (checkpoint_weights(tmp_path / n) for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_eval_images_gives_the_per_epoch_test_elbo_of_an_evenly_spaced_subset(tmp_path, tiny_split) -> None:
    train(TINY_MLP, fast_config(1, eval_images=10), tiny_split, tmp_path / "run")
    loaded = load_checkpoint(tmp_path / "run", "cvae")
    chosen = evenly_spaced(len(tiny_split.test_images), 10)
    x, y = to_tensors(tiny_split.test_images[chosen], tiny_split.test_labels[chosen])
    assert len(x) == 10
    recorded = loaded.config["training"]["history"][0]["test_neg_elbo"]
    assert recorded == pytest.approx(mean_negative_elbo(loaded.model, x, y))
    assert recorded != pytest.approx(
        mean_negative_elbo(loaded.model, *to_tensors(tiny_split.test_images, tiny_split.test_labels))
    )


def test_help_documents_every_option(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for option in (
        "--data",
        "--data-dir",
        "--arch",
        "--latent-dim",
        "--epochs",
        "--batch-size",
        "--lr",
        "--precision",
        "--schedule",
        "--beta",
        "--kl-warmup",
        "--loss",
        "--seed",
        "--device",
        "--out",
        "--resume",
        "--eval-images",
    ):
        assert option in text
    parser = cli.build_parser()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{action.option_strings} has no help"


def test_cli_trains_from_idx_files_and_reports_bad_data_in_one_line(tmp_path, tiny_split, capsys) -> None:
    write_split_as_idx(tiny_split, tmp_path, ".gz")
    cli.main([*_tiny_cli_args(tmp_path, tmp_path / "ckpt"), "--epochs", "1"])
    assert load_checkpoint(tmp_path / "ckpt", "cvae").config["epochs"] == 1
    capsys.readouterr()

    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip, not idx")
    with pytest.raises(SystemExit) as info:
        cli.main(["--data", "idx", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cvae-train: error:") and "t10k-labels" in err and "\n" not in err
