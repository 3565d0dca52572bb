"""Plain helpers of the training tests: tiny model configurations, a fast recipe, a checkpoint's weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from model.checkpoint import load_checkpoint
from model.config import CVAEConfig
from training.train import TrainConfig

TINY_MLP = CVAEConfig(arch="mlp", latent_dim=4, hidden_dim=64)
TINY_CONV = CVAEConfig(arch="conv", latent_dim=4, channels=4)


def fast_config(epochs: int, **kwargs: Any) -> TrainConfig:
    """A recipe for the tiny models on the small split: CPU, small batches, no KL warm-up."""
    return TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, kl_warmup=0, device="cpu", **kwargs)


def checkpoint_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of the CVAE checkpoint at `path`."""
    return load_checkpoint(path, "cvae").model.state_dict()
