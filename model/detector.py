"""The outlier detector: a small CNN that tells a model's training data from uploads unlike it.

Trained by outlier exposure (Hendrycks et al. 2019, "Deep Anomaly Detection with Outlier Exposure") inside
cvae-calibrate (training/outliers.py): the model's own train split, rendered the ways uploads arrive, against
generated letters, shapes, noise and pictures. Its logit is the sixth feature of model/ood.py. It is stored
in the model's ood.safetensors under PREFIX, beside the class Gaussians, so every served model has its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

PREFIX = "detector."


class OutlierDetector(nn.Module):
    """(N, 1, 28, 28) preprocessed uploads -> (N,) logit of "not like the model's training data"."""

    def __init__(self, channels: int = 16, hidden_dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
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

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[:, 0]

    def to_tensors(self) -> dict[str, Tensor]:
        """Its weights under PREFIX, to share a safetensors file."""
        return {PREFIX + name: value.detach().cpu() for name, value in self.state_dict().items()}

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, Tensor]) -> OutlierDetector:
        """The detector stored under PREFIX in `tensors` (its size read from the weights' shapes)."""
        weights = {name[len(PREFIX) :]: value for name, value in tensors.items() if name.startswith(PREFIX)}
        if not weights:
            raise ValueError("no outlier detector in the OOD calibration (an older cvae-calibrate wrote it)")
        detector = cls(weights["net.0.weight"].shape[0], weights["net.7.weight"].shape[0])
        detector.load_state_dict(weights)
        return detector.eval()
