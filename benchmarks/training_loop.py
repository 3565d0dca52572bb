"""Our training loop vs a minimal plain-PyTorch loop of the same model on the same data, side by side.

The ratio (ours / plain, seconds per epoch) shows what the loop's extras cost: the KL warm-up and schedule,
per-epoch test -ELBO, checkpoint and resume state written every epoch, progress bar. Ours runs twice: in
float32, and at its default precision (bf16 autocast where the CPU computes bf16 natively), which shows what
that choice buys. All runs use the same model config, batch size, data and thread count, and alternate to
spread the machine's noise over all of them.
Writes benchmarks/results/training_loop.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from model.config import CVAEConfig
from model.cvae import CVAE
from model.device import autocast_dtype
from model.loss import cvae_loss
from training.data import load_split, to_tensors
from training.train import TrainConfig, train

RESULTS = Path(__file__).parent / "results" / "training_loop.json"


def plain_loop(cfg: CVAEConfig, x: torch.Tensor, y: torch.Tensor, epochs: int, batch_size: int) -> None:
    """pytorch/examples-style: shuffle, forward, loss, backward, step. Nothing else."""
    torch.manual_seed(0)
    model = CVAE(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(batch_size):
            logits, mu, logvar = model(x[batch], y[batch])
            loss = cvae_loss(logits, x[batch], mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each loop, alternating")
    parser.add_argument("--data-dir", default="data", help="npm cache directory")
    args = parser.parse_args()

    split = load_split("npm", args.data_dir)
    x, y = to_tensors(split.train_images, split.train_labels)
    model_cfg = CVAEConfig()
    configs = {
        "ours_fp32": TrainConfig(epochs=args.epochs, device="cpu", precision="fp32"),
        "ours_default": TrainConfig(epochs=args.epochs, device="cpu"),
    }
    times: dict[str, list[float]] = {"plain": [], **{name: [] for name in configs}}
    for _ in range(args.repeats):
        for name, train_cfg in configs.items():
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                train(model_cfg, train_cfg, split, Path(tmp) / "run")
                times[name].append((time.perf_counter() - start) / args.epochs)
        start = time.perf_counter()
        plain_loop(model_cfg, x, y, args.epochs, TrainConfig.batch_size)
        times["plain"].append((time.perf_counter() - start) / args.epochs)

    result = {
        "benchmark": "training loop, seconds per epoch (9,000 images), median of repeats",
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "model": model_cfg.to_dict(),
        "batch_size": TrainConfig.batch_size,
        "default_precision": str(autocast_dtype(TrainConfig.precision, torch.device("cpu")) or torch.float32),
        **{f"{name}_s_per_epoch": round(statistics.median(t), 3) for name, t in times.items()},
    }
    for name in configs:
        result[f"ratio_{name}_over_plain"] = round(
            result[f"{name}_s_per_epoch"] / result["plain_s_per_epoch"], 3
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
