"""Our training loop vs a minimal plain-PyTorch loop of the same model on the same data, side by side.

The ratio (ours / plain, seconds per epoch) shows what the loop's extras cost: the KL warm-up and schedule,
per-epoch test -ELBO, checkpoint and resume state written every epoch, progress bar. Both runs use the same
model config, batch size, data and thread count, and alternate to spread the machine's noise over both.
Writes benchmarks/results/training_loop.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from model.config import CVAEConfig
from model.cvae import CVAE
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
    train_cfg = TrainConfig(epochs=args.epochs, device="cpu")
    ours, plain = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            train(model_cfg, train_cfg, split, Path(tmp) / "run")
            ours.append((time.perf_counter() - start) / args.epochs)
        start = time.perf_counter()
        plain_loop(model_cfg, x, y, args.epochs, train_cfg.batch_size)
        plain.append((time.perf_counter() - start) / args.epochs)

    result = {
        "benchmark": "training loop, seconds per epoch (9,000 images), median of repeats",
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "model": model_cfg.to_dict(),
        "batch_size": train_cfg.batch_size,
        "ours_s_per_epoch": round(sorted(ours)[len(ours) // 2], 3),
        "plain_s_per_epoch": round(sorted(plain)[len(plain) // 2], 3),
    }
    result["ratio_ours_over_plain"] = round(result["ours_s_per_epoch"] / result["plain_s_per_epoch"], 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
