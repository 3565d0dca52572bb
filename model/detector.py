"""The outlier detector: a small CNN that tells a model's training data from uploads unlike it.

Trained by outlier exposure (Hendrycks et al. 2019, "Deep Anomaly Detection with Outlier Exposure") inside
cvae-calibrate (training/outliers.py): the model's own train split, rendered the ways uploads arrive, against
generated letters, shapes, noise and pictures. Its logit is the sixth feature of model/ood.py. It is stored
in the model's ood.safetensors under PREFIX, beside the class Gaussians, so every served model has its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

PREFIX = "detector."


class OutlierDetector(nn.Module):
    """(N, 1, 28, 28) preprocessed uploads -> (N,) logit of "not like the model's training data": the mean
    logit of `members` small CNNs of one shape, each trained alone from its own seed. One such CNN's verdict
    on the kinds it never saw varies with its seed (handwritten digits of another collection flagged 14% by
    one, 22% by the next); their mean varies less and separates better."""

    def __init__(self, channels: int = 16, hidden_dim: int = 64, members: int = 1) -> None:
        super().__init__()
        self.members = nn.ModuleList(_network(channels, hidden_dim) for _ in range(members))

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([member(x)[:, 0] for member in self.members]).mean(dim=0)

    def to_tensors(self) -> dict[str, Tensor]:
        """Its weights under PREFIX, to share a safetensors file."""
        return {PREFIX + name: value.detach().cpu() for name, value in self.state_dict().items()}

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, Tensor]) -> OutlierDetector:
        """The detector stored under PREFIX in `tensors` (its size and members read from the weights)."""
        weights = {name[len(PREFIX) :]: value for name, value in tensors.items() if name.startswith(PREFIX)}
        if "members.0.0.weight" not in weights:
            raise ValueError("no outlier detector in the OOD calibration (an older cvae-calibrate wrote it)")
        members = len({name.split(".")[1] for name in weights})
        detector = cls(
            weights["members.0.0.weight"].shape[0], weights["members.0.7.weight"].shape[0], members
        )
        detector.load_state_dict(weights)
        return detector.eval()


def _network(channels: int, hidden_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(channels, 2 * channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * channels * 7 * 7, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, 1),
    )
