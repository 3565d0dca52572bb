"""Child process of tests/test_checkpoint_crash.py: the tiny CVAE trained for 3 epochs, killed on cue.

    python tests/crash_training.py OUT_DIR trace    uninterrupted; prints the kill points of epoch 2's save
    python tests/crash_training.py OUT_DIR kill K   SIGKILLs itself at kill point K of epoch 2's save
    python tests/crash_training.py OUT_DIR wait     prints "saved 1" after epoch 1's save and "done" at the
                                                    end, then waits for the parent's SIGKILL

The kill points are the file-system steps of a save in model/checkpoint.py: before each os.replace, os.fsync,
shutil.rmtree and safetensors save_file, half-way through the bytes of each save_file, and after the save.
Killing the process itself, not raising, leaves exactly what a crash leaves: no cleanup code runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch
from data_support import synthetic_split
from training_support import TINY_MLP, fast_config

from model import checkpoint
from training import train as train_module
from training.train import Run, Saver, save_epoch

EPOCHS = 3
KILLED_SAVE = 2  # the epoch whose save has the kill points


def train(out_dir: Path, resume: bool = False, save: Saver | None = None) -> None:
    """On one thread: the same arithmetic in every process, and far faster for these tiny steps than two
    threads that share two cores with other work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_module.train(
            TINY_MLP, fast_config(EPOCHS), synthetic_split(), out_dir, resume=resume, save=save
        )
    finally:
        torch.set_num_threads(threads)


class KillPoints:
    """Numbers the file-system steps of the watched save and kills the process at step `kill_at`."""

    def __init__(self, out_dir: Path, kill_at: int | None) -> None:
        self.out_dir = out_dir
        self.kill_at = kill_at
        self.labels: list[str] = []
        self.active = False
        self.saved_at: list[float] = []

    def reached(self, step: str, *paths: str | Path, before_kill: Callable[[], None] = lambda: None) -> None:
        if not self.active:
            return
        if len(self.labels) == self.kill_at:
            before_kill()
            os.kill(os.getpid(), signal.SIGKILL)
        self.labels.append(" ".join([step, *(os.path.relpath(p, self.out_dir) for p in paths)]))

    def install(self) -> None:
        real_replace, real_fsync, real_rmtree = os.replace, os.fsync, shutil.rmtree
        real_save_file = checkpoint.save_file

        def replace(src: str | Path, dst: str | Path, **kwargs) -> None:
            self.reached("os.replace", src, dst)
            real_replace(src, dst, **kwargs)

        def fsync(fd: int) -> None:
            self.reached("os.fsync", os.readlink(f"/proc/self/fd/{fd}"))
            real_fsync(fd)

        def rmtree(path: str | Path, *args, **kwargs) -> None:
            self.reached("shutil.rmtree", path)
            real_rmtree(path, *args, **kwargs)

        def save_file(tensors: dict, filename: str, *args, **kwargs) -> None:
            self.reached("save_file", filename)
            data = safetensors.torch.save(tensors)
            self.reached(
                "half of save_file",
                filename,
                before_kill=lambda: Path(filename).write_bytes(data[: len(data) // 2]),
            )
            real_save_file(tensors, filename, *args, **kwargs)

        os.replace, os.fsync, shutil.rmtree = replace, fsync, rmtree
        checkpoint.save_file = save_file

    def save(self, run: Run) -> None:
        """train()'s saver: save_epoch, with the kill points armed for epoch KILLED_SAVE's save."""
        epoch = len(run.history)
        self.active = epoch == KILLED_SAVE
        save_epoch(run)
        self.reached("after the save")
        self.active = False
        self.saved_at.append(time.monotonic())
        print("saved", epoch, flush=True)


def main(out_dir: Path, mode: str, kill_at: int | None = None) -> None:
    points = KillPoints(out_dir, kill_at)
    points.install()
    train(out_dir, save=points.save)
    if mode == "trace":
        after_first_save = time.monotonic() - points.saved_at[0]
        print(json.dumps({"points": points.labels, "seconds_after_first_save": after_first_save}))
    elif mode == "wait":
        print("done", flush=True)
        sys.stdin.read()
    else:
        sys.exit(f"kill point {kill_at} was never reached ({len(points.labels)} in the save)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], *(int(a) for a in sys.argv[3:]))
