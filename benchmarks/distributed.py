"""Training throughput of 2 processes under torchrun (DDP over gloo) against 1 process, side by side.

All runs train the shipped model with its shipped settings (checkpoints/cvae-mnist/config.json: architecture,
sizes, batch size, learning rate, jitter, precision) on the offline MNIST copy, with the whole CPU: one
process with 2 torch threads, or 2 processes with 1 thread each and the same global batch (half of it each).
A third run, one process with 1 thread, is the reference both are measured against: what one core does.
Each run is a fresh process (`--worker`) training one epoch of (warm-up + timed) global batches; it notes the
time as each step computes its loss, and images/s is the timed steps' images over their time: forward,
backward, the gradients' allreduce, the Adam step, gathering and jittering the batch (not the end-of-epoch
test -ELBO and checkpoint). The runs alternate, to spread the machine's noise over all of them; the CPU time
other processes took meanwhile (from /proc/stat) and the 1-minute load average are recorded with them.
Writes benchmarks/results/distributed.json and docs/distributed.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import torch

from benchmarks.machine import cpu_name
from model.config import CVAEConfig
from model.cvae import CVAE
from model.device import autocast_dtype
from training import train as train_module
from training.data import Split, load_split
from training.npm_digits import NpmDigitsError
from training.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints" / "cvae-mnist" / "config.json"
RESULTS = REPO / "benchmarks" / "results" / "distributed.json"
DOC = REPO / "docs" / "distributed.md"
TORCHRUN = Path(sys.executable).with_name("torchrun")
# name: (processes, torch threads per process)
RUNS = {
    "1 process x 2 threads": (1, 2),
    "2 processes x 1 thread": (2, 1),
    "1 process x 1 thread (reference)": (1, 1),
}


def shipped_configs() -> tuple[CVAEConfig, TrainConfig]:
    """The shipped checkpoint's model and training settings, on the CPU."""
    config = json.loads(SHIPPED.read_text())
    training = {k: v for k, v in config["training"].items() if k not in ("history", "device")}
    return CVAEConfig.from_dict(config["model"]), TrainConfig(**training, device="cpu")


def load_data(data_dir: str) -> tuple[Split, str]:
    """The offline MNIST copy; where its cache is missing, random digits of the same shape, saying so."""
    try:
        split = load_split("npm", data_dir)
        return split, split.name
    except NpmDigitsError as e:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (10_000, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, 10_000).astype(np.uint8)
        split = Split("synthetic", images[1000:], labels[1000:], images[:1000], labels[:1000], "0" * 64)
        return split, f"synthetic random digits (the offline MNIST copy is unavailable: {e})"


def worker(args: argparse.Namespace) -> None:
    """One process of a run: one epoch of warm-up + timed global batches, noting when each step's loss is
    computed (once a step, after the forward pass)."""
    torch.set_num_threads(args.threads)
    model_cfg, train_cfg = shipped_configs()
    split, _ = load_data(args.data_dir)
    n = (args.warmup + args.steps + 1) * train_cfg.batch_size
    # The test split cut to one batch: the end-of-epoch test -ELBO falls outside the timed steps anyway.
    split = replace(
        split,
        train_images=split.train_images[:n],
        train_labels=split.train_labels[:n],
        test_images=split.test_images[: train_cfg.batch_size],
        test_labels=split.test_labels[: train_cfg.batch_size],
    )
    marks: list[float] = []
    loss = train_module.cvae_loss

    def timed(*a: Any, **k: Any) -> torch.Tensor:
        marks.append(time.perf_counter())
        return loss(*a, **k)

    with patch.object(train_module, "cvae_loss", timed):
        train_module.train(model_cfg, replace(train_cfg, epochs=1), split, Path(args.result).parent / "ckpt")
    if int(os.environ.get("RANK", "0")) == 0:
        seconds = marks[args.warmup + args.steps] - marks[args.warmup]
        record = {
            "images_per_s": args.steps * train_cfg.batch_size / seconds,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
        Path(args.result).write_text(json.dumps(record))


def run(processes: int, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh run in its own process(es): rank 0's images/s and peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        worker_args = [
            *("-m", "benchmarks.distributed", "--worker", "--result", str(result), "--threads", str(threads)),
            *("--warmup", str(args.warmup), "--steps", str(args.steps), "--data-dir", args.data_dir),
        ]
        if processes == 1:
            command = [sys.executable, *worker_args]
        else:
            command = [str(TORCHRUN), "--standalone", "--nproc_per_node", str(processes), *worker_args]
        subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True)
        return json.loads(result.read_text())


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy: /proc/stat's cpu line less idle and iowait."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(args: argparse.Namespace) -> dict[str, Any]:
    model_cfg, train_cfg = shipped_configs()
    _, data = load_data(args.data_dir)
    load_before = os.getloadavg()[0]
    start, busy, ours = time.perf_counter(), busy_cpu_s(), children_cpu_s()
    records: dict[str, list[dict[str, Any]]] = {name: [] for name in RUNS}
    for _ in range(args.repeats):
        for name, (processes, threads) in RUNS.items():
            records[name].append(run(processes, threads, args))
    # Cores' worth of CPU that other processes took while the runs went on, i.e. took from them.
    others = (busy_cpu_s() - busy - (children_cpu_s() - ours)) / (time.perf_counter() - start)
    load_after = os.getloadavg()[0]

    runs = {
        name: {
            "processes": processes,
            "threads_per_process": threads,
            "images_per_rank_per_step": train_cfg.batch_size // processes,
            "images_per_s": round(statistics.median(r["images_per_s"] for r in records[name]), 1),
            "images_per_s_each_run": [round(r["images_per_s"], 1) for r in records[name]],
            "peak_rss_mb_rank0": max(r["peak_rss_mb"] for r in records[name]),
        }
        for name, (processes, threads) in RUNS.items()
    }
    two_threads, two_processes, reference = (runs[name]["images_per_s"] for name in RUNS)
    return {
        "benchmark": "training images/s of the shipped CVAE config, 2 DDP processes (gloo) vs 1 process: "
        f"{args.steps} timed steps after {args.warmup} warm-up steps, median of {args.repeats} alternating "
        "runs",
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "other_processes_cores_during_runs": round(max(0.0, others), 2),
            "load_average_1min_before": round(load_before, 2),
            "load_average_1min_after": round(load_after, 2),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
        "data": data,
        "model": model_cfg.to_dict(),
        "global_batch_size": train_cfg.batch_size,
        "lr": train_cfg.lr,
        "precision": str(autocast_dtype(train_cfg.precision, torch.device("cpu")) or torch.float32),
        "augment": train_cfg.augment,
        "runs": runs,
        "ratio_2_processes_over_2_threads": round(two_processes / two_threads, 3),
        "ratio_2_processes_over_reference": round(two_processes / reference, 3),
        "ratio_2_threads_over_reference": round(two_threads / reference, 3),
    }


EXPLANATION = """# Distributed training (DDP on the CPU)

`torchrun --standalone --nproc_per_node N -m training ...` trains with DistributedDataParallel (gloo on the
CPU, NCCL on GPUs). `--batch-size` is the global batch: each step, rank r takes rows r, r + N, r + 2N, ... of
the same shuffled batch of `--batch-size` images, and DDP averages the ranks' gradients, each weighted by its
share of the batch. Every rank draws the jitter and the reparameterization noise of the whole batch and keeps
its own rows. So N processes take the same steps as one process with the same `--batch-size`, up to float
rounding (`tests/test_distributed.py` checks it against a one-process run), and only rank 0 writes the
checkpoint.

## Batch size and learning rate

- Same `--batch-size`, more processes: the steps are the same, so keep `--lr` (and the schedule, which
  counts steps of the global batch). Each process computes `--batch-size / N` images a step; a batch that
  does not divide evenly gives some ranks one image more.
- A larger global batch (say `--batch-size 64N`, to keep 64 images per process): fewer steps an epoch, each
  averaging more images. The usual starting point is the linear scaling rule (Goyal et al. 2017): multiply
  `--lr` by the factor the batch grew, with a warm-up (the default one-cycle schedule has one, 10% of the
  steps). It is a rule of thumb, not checked here on this model (Adam often wants less than linear), so
  compare the test -ELBO before relying on it.
"""


def write_doc(result: dict[str, Any]) -> None:
    machine, model, ratio = result["machine"], result["model"], result["ratio_2_processes_over_2_threads"]
    others = machine["other_processes_cores_during_runs"]
    busy = (
        ": a busy machine, so the figures say how each layout copes with sharing the cores more than what it "
        "does on a quiet one. Two threads of one process meet at every parallel region, and one that waits "
        "for a core holds up the other (torch's OpenMP threads spin while they wait): that layout suffers "
        "most"
        if others > 0.2
        else ""
    )
    parameters = sum(p.numel() for p in CVAE(CVAEConfig.from_dict(model)).parameters())
    slower = (
        " On one CPU, threads beat processes here: two threads split each operation of one step, while "
        f"each DDP rank computes half a batch and then exchanges the whole gradient ({parameters:,} values) "
        "through gloo every step."
    )
    rows = [
        f"| {name} | {r['images_per_rank_per_step']} | {r['images_per_s']:.0f} | {r['peak_rss_mb_rank0']} |"
        for name, r in result["runs"].items()
    ]
    lines = [
        "## Throughput",
        "",
        "`make bench-distributed` (`benchmarks/distributed.py`, results in "
        "`benchmarks/results/distributed.json`): the shipped model "
        f"({model['arch']}, latent {model['latent_dim']}, global batch {result['global_batch_size']}, "
        f"{result['precision']}, jitter {result['augment']}) on {result['data']}, on {machine['cpu']} "
        f"({machine['cores']} cores), torch {machine['torch']}; {result['benchmark'].split(': ', 1)[1]}. "
        "Training steps only: forward, backward, the allreduce, the Adam step, gathering and jittering the "
        "batch.",
        "",
        "| run | images per rank per step | training images/s | peak RSS of rank 0 (MB) |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"2 processes x 1 thread / 1 process x 2 threads: **{ratio:.2f}x**; against one core (1 process x 1 "
        f"thread): 2 processes {result['ratio_2_processes_over_reference']:.2f}x, 2 threads "
        f"{result['ratio_2_threads_over_reference']:.2f}x.{slower if ratio < 1 else ''}",
        "",
        f"Other processes took {others} of the {machine['cores']} cores on average while the runs went on "
        f"(/proc/stat less the runs' own CPU time){busy}. The 1-minute load average was "
        f"{machine['load_average_1min_before']} before the runs and {machine['load_average_1min_after']} "
        "after them (that one counts the runs' own busy threads).",
    ]
    text = "\n".join(line if line.startswith("|") else textwrap.fill(line, 110) for line in lines)
    DOC.write_text(EXPLANATION + "\n" + text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=60, help="timed global batches per run")
    parser.add_argument("--warmup", type=int, default=10, help="untimed global batches before them")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each kind, alternating")
    parser.add_argument("--data-dir", default="data", help="npm cache directory")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    result = measure(args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_doc(result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
