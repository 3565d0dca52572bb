"""DistributedDataParallel checked: 2 gloo processes under torchrun train like one process.

Run as a script (`torchrun ... tests/test_distributed.py DATA OUT LOG`), this file is one rank of the run the
test starts: it trains, and records which images it trained on and which epochs it saved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
import torch
from data_support import make_digits, write_split_as_idx

from model.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint
from model.config import CVAEConfig
from model.cvae import CVAE
from training import train as train_module
from training.data import Split, load_idx_split
from training.train import STATE_FILE, Run, Saver, TrainConfig, save_epoch, train

TORCHRUN = Path(sys.executable).with_name("torchrun")
# 225 = 7 x 32 + 1: every epoch ends with a global batch of one image, so rank 1's share of it is empty and
# the ranks' losses must be weighted by their shares for the average of their gradients to be one process's.
N_TRAIN = 225
# Every training image is its own class (its label is its index), so the labels a rank's encoder was given
# name the images it trained on; the jitter warps pixels, never labels.
MODEL = CVAEConfig(arch="mlp", latent_dim=4, hidden_dim=64, num_classes=N_TRAIN)
# Jitter on (drawn for the whole global batch, each rank keeping its rows). float32: bf16 keeps 8 bits of
# mantissa, and its rounding of two half-batch gradients and of one whole one differ far beyond the tolerance.
TRAINING = TrainConfig(
    epochs=3, batch_size=32, lr=3e-3, kl_warmup=0, augment=0.5, precision="fp32", device="cpu"
)
CHECKPOINT_FILES = {CONFIG_FILE, WEIGHTS_FILE, STATE_FILE}


def _split() -> Split:
    images, _ = make_digits(N_TRAIN, seed=1)
    test_images, test_labels = make_digits(100, seed=2)
    return Split("ids", images, np.arange(N_TRAIN, dtype=np.uint8), test_images, test_labels, "0" * 64)


@contextmanager
def _recorded() -> Iterator[tuple[dict[str, list], Saver]]:
    """The labels of every training batch a model encodes, and a saver for train() that notes each epoch it
    saves."""
    record: dict[str, list] = {"batches": [], "saved_epochs": []}

    class RecordingCVAE(CVAE):
        def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if self.training:  # not the per-epoch test -ELBO
                record["batches"].append(y.tolist())
            return super().encode(x, y)

    def save(run: Run) -> None:
        record["saved_epochs"].append(len(run.history))
        save_epoch(run)

    with patch.object(train_module, "CVAE", RecordingCVAE):
        yield record, save


def _rank(data_dir: str, out_dir: str, log_dir: str) -> None:
    torch.set_num_threads(1)
    with _recorded() as (record, save):
        train(MODEL, TRAINING, load_idx_split(data_dir), out_dir, save=save)
    Path(log_dir, f"rank{os.environ['RANK']}.json").write_text(json.dumps(record))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path, "cvae").model.state_dict()


def _test_neg_elbo(path: Path) -> list[float]:
    return [h["test_neg_elbo"] for h in load_checkpoint(path, "cvae").config["training"]["history"]]


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path: Path) -> None:
    """Each rank trains on its own rows of every global batch, and the final weights are one process's.

    Not bit-equal: DDP averages two ranks' gradients of 16 images each (allreduce), one process sums 32 in
    one matrix product, so float32 rounds differently (~1e-7 relative). Adam divides each step by the
    gradient's running size, so for the few weights whose gradient is nearly zero that rounding becomes a
    visible step: over 24 seeds of this run (3 epochs, 24 steps) the largest |difference| of any weight was
    1.3e-7 to 1.1e-4 (seed 0: 1.6e-6), in at most 9 of the 130,840 weights above 1e-6. So each tensor is
    compared as a whole, |a - b| / |b| (L2): at most 2e-5 over those seeds (seed 0: 3.7e-7); the tolerance,
    3e-4, leaves a 15x margin. A wrong split lands far outside it, in every tensor: both ranks on rank 0's
    rows, 0.019 to 0.46; each rank drawing noise and jitter for its own rows from the same seed (as the loop
    did before it drew them for the whole global batch), 0.01 to 0.41; each rank's mean loss not weighted by
    its share of the uneven last batch, 0.006 to 0.035. The test -ELBO after each epoch agrees to 1-2
    float32 ulps (< 1e-4 nats; those three, 0.2 to 35 nats).
    """
    write_split_as_idx(_split(), tmp_path / "data")
    (tmp_path / "logs").mkdir()
    result = subprocess.run(
        [
            str(TORCHRUN),
            "--standalone",
            "--nproc_per_node",
            "2",
            __file__,
            str(tmp_path / "data"),
            str(tmp_path / "ddp"),
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / "logs" / f"rank{r}.json").read_text()) for r in (0, 1)]
    with _recorded() as (one, save):
        train(MODEL, TRAINING, load_idx_split(tmp_path / "data"), tmp_path / "one", save=save)

    steps_per_epoch = -(-N_TRAIN // TRAINING.batch_size)
    assert len(one["batches"]) == TRAINING.epochs * steps_per_epoch
    for epoch in range(TRAINING.epochs):
        batches = one["batches"][epoch * steps_per_epoch : (epoch + 1) * steps_per_epoch]
        assert sorted(chain.from_iterable(batches)) == list(range(N_TRAIN))  # each image once an epoch
    # Rank r trained on rows r, r + 2, ... of each of one process's global batches: disjoint shares that
    # together are the global batch, the last one's (a single image) all rank 0's.
    assert len(ranks[0]["batches"]) == len(ranks[1]["batches"]) == len(one["batches"])
    for step, whole in enumerate(one["batches"]):
        assert [rank["batches"][step] for rank in ranks] == [whole[0::2], whole[1::2]], f"step {step}"

    # Only rank 0 wrote, once an epoch, and the directory holds one checkpoint and nothing else.
    assert ranks[0]["saved_epochs"] == [1, 2, 3] and ranks[1]["saved_epochs"] == []
    assert {p.name for p in (tmp_path / "ddp").iterdir()} == CHECKPOINT_FILES

    ddp, single = _weights(tmp_path / "ddp"), _weights(tmp_path / "one")
    assert ddp.keys() == single.keys()
    relative = {k: ((ddp[k] - single[k]).norm() / single[k].norm()).item() for k in single}
    assert max(relative.values()) <= 3e-4, relative
    assert _test_neg_elbo(tmp_path / "ddp") == pytest.approx(_test_neg_elbo(tmp_path / "one"), abs=1e-3)


def test_cvae_train_under_torchrun_writes_one_checkpoint(tmp_path: Path, tiny_split: Split) -> None:
    """The command line under torchrun: both ranks parse and check --out, train one model, rank 0 saves."""
    write_split_as_idx(tiny_split, tmp_path / "data")
    result = subprocess.run(
        [
            str(TORCHRUN),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "training",
            *("--data", "idx", "--data-dir", str(tmp_path / "data"), "--arch", "mlp", "--hidden-dim", "32"),
            *("--device", "cpu", "--epochs", "2", "--threads", "1", "--out", str(tmp_path / "ddp")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    history = load_checkpoint(tmp_path / "ddp", "cvae").config["training"]["history"]
    assert len(history) == 2 and history[1]["test_neg_elbo"] < history[0]["test_neg_elbo"]
    assert {p.name for p in (tmp_path / "ddp").iterdir()} == CHECKPOINT_FILES


if __name__ == "__main__":
    _rank(*sys.argv[1:])
