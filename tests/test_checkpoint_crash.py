"""SIGKILL while training writes a checkpoint: the previous checkpoint still loads, and --resume from what is
left ends with the weights of an uninterrupted run.

The kills are real: a child process (tests/crash_training.py) trains the tiny MLP for 3 epochs and SIGKILLs
itself at a chosen file-system step of epoch 2's save, or the test kills it at a random moment. The test then
loads what is left and resumes it here. The journal's own tests (every step of a save, a read-only
directory) run in this process.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from crash_training import EPOCHS, KILLED_SAVE, train
from robustness import Recorder, bounded
from training_support import checkpoint_weights

from model import checkpoint
from model.checkpoint import STAGING_DIR, load_checkpoint, load_tensors, save_checkpoint
from model.config import CVAEConfig
from model.cvae import CVAE

ROOT = Path(__file__).resolve().parents[1]
CHILD = [sys.executable, str(Path(__file__).with_name("crash_training.py"))]
CHILD_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
# A seed whose five kill points in `make test` include a half-written file, the step just before the commit
# and a move out of .incoming/ (from 15: points 1, 4, 7, 9, 12).
SEED = 6


@dataclass
class Trace:
    """What an uninterrupted child run saw: the kill points of epoch 2's save and the final weights."""

    points: list[str]
    commit: int  # a kill at a point before this leaves epoch 1's checkpoint, at or after it epoch 2's
    seconds_after_first_save: float
    weights: dict[str, torch.Tensor]


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    out = tmp_path_factory.mktemp("uninterrupted")
    result = subprocess.run(
        [*CHILD, str(out), "trace"], capture_output=True, text=True, timeout=300, env=CHILD_ENV, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.splitlines()[-1])
    points = report["points"]
    # The save is committed once its config.json is in place, wherever that place is.
    replaces = [i for i, p in enumerate(points) if p.startswith("os.replace") and p.endswith("config.json")]
    commit = replaces[0] + 1
    return Trace(points, commit, report["seconds_after_first_save"], checkpoint_weights(out))


def _resume_to_the_same_weights(out: Path, trace: Trace) -> None:
    train(out, resume=True)
    resumed = checkpoint_weights(out)
    assert resumed.keys() == trace.weights.keys()
    assert all(torch.equal(trace.weights[k], resumed[k]) for k in resumed), f"{out}: other weights"


def test_sigkill_at_file_system_steps_of_a_save(trace: Trace, tmp_path: Path, robustness: Recorder) -> None:
    total = len(trace.points)
    picked = sorted(random.Random(SEED).sample(range(total), bounded(total, 5)))
    loaded: Counter[int] = Counter()
    for k in picked:
        out = tmp_path / f"kill-{k}"
        result = subprocess.run(
            [*CHILD, str(out), "kill", str(k)],
            capture_output=True,
            text=True,
            timeout=300,
            env=CHILD_ENV,
            check=False,
        )
        assert result.returncode == -signal.SIGKILL, f"{trace.points[k]}: {result.stderr[-2000:]}"
        epochs = load_checkpoint(out, "cvae").config["epochs"]
        assert epochs == (KILLED_SAVE if k >= trace.commit else KILLED_SAVE - 1), trace.points[k]
        loaded[epochs] += 1
        _resume_to_the_same_weights(out, trace)
        assert not (out / STAGING_DIR).exists()  # the epoch-3 save finished or dropped what was left
    robustness.record(
        sent=f"SIGKILL to cvae training at {len(picked)} of the {total} file-system steps of an epoch's "
        "checkpoint save (before each os.replace, os.fsync, rmtree and safetensors write, half-way through "
        "each safetensors write, after the save)",
        count=len(picked),
        came_back=f"the previous checkpoint loaded {loaded[KILLED_SAVE - 1]} times and the new one "
        f"{loaded[KILLED_SAVE]} times, as the kill fell before or after the commit; --resume reached weights "
        f"equal to an uninterrupted run {len(picked)} of {len(picked)} times",
        lost="nothing",
    )


def test_sigkill_at_random_moments_of_a_run(trace: Trace, tmp_path: Path, robustness: Recorder) -> None:
    rng = random.Random(SEED)
    runs = bounded(10, 2)
    loaded: Counter[int] = Counter()
    for run in range(runs):
        out = tmp_path / f"run-{run}"
        with subprocess.Popen(
            [*CHILD, str(out), "wait"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=CHILD_ENV,
        ) as child:
            assert child.stdout is not None and child.stdout.readline().strip() == "saved 1"
            time.sleep(rng.uniform(0, trace.seconds_after_first_save))
            child.send_signal(signal.SIGKILL)
        assert child.returncode == -signal.SIGKILL
        epochs = load_checkpoint(out, "cvae").config["epochs"]
        assert 1 <= epochs <= EPOCHS
        loaded[epochs] += 1
        _resume_to_the_same_weights(out, trace)
    robustness.record(
        sent=f"SIGKILL to cvae training at {runs} random moments of its epochs 2 and 3",
        count=runs,
        came_back="the checkpoint of epoch "
        + ", ".join(f"{e} loaded {loaded[e]} times" for e in range(1, EPOCHS + 1))
        + f"; --resume reached weights equal to an uninterrupted run {runs} of {runs} times",
        lost="nothing",
    )


def _cvae(seed: int) -> CVAE:
    torch.manual_seed(seed)
    return CVAE(CVAEConfig(arch="mlp", latent_dim=2, hidden_dim=8))


def _save(directory: Path, seed: int) -> None:
    """Checkpoint number `seed`: its config, weights and further file all say which it is."""
    save_checkpoint(directory, _cvae(seed), {"seed": seed}, {"tag.safetensors": {"seed": torch.tensor(seed)}})


def _which(directory: Path) -> int:
    """The number of the checkpoint that loads from `directory`, checking that all its files agree."""
    loaded = load_checkpoint(directory, "cvae")
    seed = loaded.config["seed"]
    assert int(load_tensors(directory, "tag.safetensors", loaded.config)["seed"]) == seed
    expected = _cvae(seed).state_dict()
    assert all(torch.equal(expected[k], v) for k, v in loaded.model.state_dict().items())
    return seed


def test_every_step_of_a_save_reads_as_the_old_or_the_new_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _save(tmp_path, 1)
    seen = []

    def check_first(real):
        def step(*args, **kwargs):
            seen.append(_which(tmp_path))
            return real(*args, **kwargs)

        return step

    for module, name in ((os, "replace"), (os, "fsync"), (shutil, "rmtree"), (checkpoint, "save_file")):
        monkeypatch.setattr(module, name, check_first(getattr(module, name)))
    _save(tmp_path, 2)
    monkeypatch.undo()
    seen.append(_which(tmp_path))
    assert len(seen) > 10 and seen == sorted(seen) and seen[0] == 1 and seen[-1] == 2


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}


def test_a_read_only_directory_with_a_half_moved_save_loads_the_new_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _save(tmp_path, 1)
    real_replace = os.replace
    moved = []

    def move_one_then_fail(src, dst, **kwargs) -> None:
        if Path(dst).parent == tmp_path:
            if moved:
                raise OSError("disk gone")
            moved.append(dst)
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", move_one_then_fail)
    with pytest.raises(OSError, match="disk gone"):
        _save(tmp_path, 2)
    monkeypatch.undo()
    staged = {p.name for p in (tmp_path / STAGING_DIR).iterdir()}
    assert len(moved) == 1 and "config.json" in staged and Path(moved[0]).name not in staged

    before = _tree(tmp_path)
    for directory in (tmp_path / STAGING_DIR, tmp_path):
        directory.chmod(0o555)
    try:
        assert _which(tmp_path) == 2
        assert _tree(tmp_path) == before  # root ignores the mode: the reads changed nothing either way
    finally:
        for directory in (tmp_path, tmp_path / STAGING_DIR):
            directory.chmod(0o755)

    _save(tmp_path, 3)  # publishes the staged save first, then writes its own
    assert _which(tmp_path) == 3 and not (tmp_path / STAGING_DIR).exists()
