"""Legibility foreseen from the latent: a small network that says, from (z, digit) alone, how likely the
classifier is to read the decoded image as that digit with at least LEGIBLE.

A number (model/numbers.py) gives each digit a few small steps from one style and keeps the first that
comes out legible. Judging a step by decoding it and running the classifier costs more than the decoder
itself (the classifier is the dearer network), and each try after the first is another round. This network
is trained (cvae-legibility, training/legibility.py) on the classifier's verdicts about decoded latents; it
costs microseconds, so a number is decoded once, its digits at their chosen steps.

Stored beside the CVAE as legibility.safetensors, with a "legibility" record in its config.json that names
the classifier whose verdicts it learned: with another classifier it is not used.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from model.checkpoint import Checkpoint, classifier_record, load_tensors
from model.inference import in_blocks
from model.numbers import TRIES, Foresee

LEGIBILITY_FILE = "legibility.safetensors"
# A digit is legible when the classifier reads it as itself with at least this probability.
LEGIBLE = 0.9
HIDDEN_DIM = 128


class LegibilityNet(nn.Module):
    """(z (N, latent_dim), labels (N,)) -> (N,) logits of "the classifier will read it as its label"."""

    def __init__(self, latent_dim: int, num_classes: int, hidden_dim: int = HIDDEN_DIM) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.layers = nn.Sequential(
            nn.Linear(latent_dim + num_classes, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        one_hot = nn.functional.one_hot(labels, self.num_classes).to(z.dtype)
        return self.layers(torch.cat([z, one_hot], dim=1)).squeeze(1)


@torch.inference_mode()
def foreseen(net: LegibilityNet, labels: Tensor, z: Tensor) -> Tensor:
    """The probability that each row's image reads as its label (model/numbers.py's Foresee), on blocks of
    TRIES rows (model/inference.py): a digit's tries are one block, whatever else was asked with them."""
    return torch.sigmoid(in_blocks(net, z.float(), labels, rows=TRIES))


def stored_foresight(cvae: Checkpoint, classifier: Checkpoint) -> Foresee | None:
    """foreseen() of the network cvae-legibility stored with a CVAE checkpoint, if it learned this
    classifier's verdicts (None: numbers are written from each digit's first step)."""
    off = "numbers are written without it until cvae-legibility runs again"
    record = classifier_record(cvae, classifier, "legibility", "legibility network", off)
    if record is None:
        return None
    net = LegibilityNet(cvae.model.cfg.latent_dim, cvae.model.cfg.num_classes, record["hidden_dim"])
    net.load_state_dict(load_tensors(cvae.path, LEGIBILITY_FILE, cvae.config))
    return partial(foreseen, net.eval())
