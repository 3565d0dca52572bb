"""Which device a model runs on: one visible decision, shared by training and the service."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """`auto` -> CUDA when present, else CPU; `cpu`, `cuda`, `cuda:N` are taken as given, checked first."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r} (expected auto, cpu, cuda or cuda:N)")
    return device
