"""The CVAE's loss: the negative ELBO, Rec + beta * KL (seed eqs. 1-13, with its errata applied).

KL is the closed form for D_KL(N(mu, sigma^2) || N(0, 1)) of Kingma & Welling (2013), appendix B:
    -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2),
summed over the latent dimensions. The seed's eq. (4) prints it the wrong way round and with mu for mu^2.
Rec is -log p(x|z,y): BCE summed over the pixels (Bernoulli decoder, computed from logits for stability),
or the sum of squared errors of the means sigmoid(logits) (Gaussian decoder with fixed variance, seed eq. 3).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from model.config import LossKind


class LossTerms(NamedTuple):
    """Per-image terms, each of shape (N,)."""

    rec: Tensor
    kld: Tensor


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """D_KL(q(z|x,y) || N(0, I)) per image, summed over the latent dimensions."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def reconstruction_loss(logits: Tensor, x: Tensor, kind: LossKind = "bce") -> Tensor:
    """-log p(x|z,y) per image (up to a constant for `sse`), summed over the pixels."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    elif kind == "sse":
        per_pixel = (torch.sigmoid(logits) - x).pow(2)
    else:
        raise ValueError(f"unknown loss {kind!r}")
    return per_pixel.flatten(1).sum(dim=1)


def loss_terms(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, kind: LossKind = "bce") -> LossTerms:
    return LossTerms(reconstruction_loss(logits, x, kind), kl_divergence(mu, logvar))


def cvae_loss(
    logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0, kind: LossKind = "bce"
) -> Tensor:
    """Batch mean of Rec + beta * KL: with beta = 1 the negative ELBO, an upper bound on -log p(x|y)."""
    terms = loss_terms(logits, x, mu, logvar, kind)
    return (terms.rec + beta * terms.kld).mean()


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * torch.sum(math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp(), dim=-1)
