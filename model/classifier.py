"""The digit classifier: a small CNN that decides which digit an upload shows and judges generated samples.

A likelihood model is a poor judge out of distribution (DESIGN.md), so label inference and the conditional
accuracy of samples both rest on this discriminative network, trained on the train split only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.config import ClassifierConfig


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class DigitClassifier(nn.Module):
    """(N, 1, H, W) images in [0, 1] -> (N, num_classes) logits."""

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        side = cfg.image_size // 4
        self.features = nn.Sequential(_conv_block(1, ch), _conv_block(ch, 2 * ch), nn.Flatten())
        self.head = nn.Sequential(
            nn.Dropout(0.3),
            nn.Linear(2 * ch * side * side, cfg.hidden_dim),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(cfg.hidden_dim, cfg.num_classes),
        )

    def embed(self, x: Tensor) -> Tensor:
        """The hidden layer before the logits: what OOD detection measures distances in (model/ood.py)."""
        return self.head[:3](self.features(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head[3:](self.embed(x))


@torch.inference_mode()
def classify(classifier: nn.Module, x: Tensor, batch_size: int = 500) -> Tensor:
    """Predicted class of each image, `batch_size` images a call."""
    return torch.cat([classifier(batch).argmax(dim=1) for batch in x.split(batch_size)])
