"""Walks in latent space between two latent vectors: what /v1/interpolate decodes."""

from __future__ import annotations

import torch
from torch import Tensor


def slerp(start: Tensor, end: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (White 2016): under a Gaussian prior the straight line between two typical
    latents passes through atypically short vectors, the great circle keeps their norm."""
    omega = torch.arccos(torch.clamp(torch.nn.functional.cosine_similarity(start, end, dim=0), -1.0, 1.0))
    t = t[:, None]
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:  # (anti)parallel: no unique great circle
        return (1 - t) * start + t * end
    return (torch.sin((1 - t) * omega) * start + torch.sin(t * omega) * end) / torch.sin(omega)
