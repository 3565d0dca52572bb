"""The figures that go beside a checkpoint: a 10x10 sample grid (row = digit) and the loss curves."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from model.checkpoint import atomic_write_bytes
from model.cvae import CVAE
from model.images import make_grid, png_bytes


def save_sample_grid(
    model: CVAE, path: Path, per_digit: int = 10, temperature: float = 1.0, seed: int = 0, scale: int = 3
) -> Path:
    """`per_digit` fresh samples of each digit, one row per digit, enlarged `scale` times."""
    digits = torch.arange(model.cfg.num_classes).repeat_interleave(per_digit)
    images = model.generate(digits, temperature, torch.Generator().manual_seed(seed))
    atomic_write_bytes(path, png_bytes(make_grid(images, nrow=per_digit), scale=scale))
    return path


def save_loss_curves(history: list[dict[str, float]], path: Path, title: str) -> Path:
    """Train loss (with the KL warm-up's beta) and test -ELBO per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [h["train_loss"] for h in history], label="train loss (Rec + β·KL)")
    ax.plot(epochs, [h["test_neg_elbo"] for h in history], label="test -ELBO (1 sample)")
    ax.set(xlabel="epoch", ylabel="nats per image", title=title)
    low = min(min(h["train_loss"], h["test_neg_elbo"]) for h in history)
    ax.set_ylim(low - 5, low + 60)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path
