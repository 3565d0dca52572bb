"""Batch augmentation for the digit classifier, so it recognises real uploads and not only MNIST.

Uploads reach the classifier after MNIST-style preprocessing, but their strokes, slant, size and sharpness
differ from MNIST's: random affine maps (shift, rotation, scale, shear), thicker or thinner strokes, blur and
a coarse-resolution round trip (as from an 8x8 thumbnail scaled back up) cover those differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def random_affine(
    x: Tensor,
    g: torch.Generator,
    degrees: float = 15,
    scale: tuple[float, float] = (0.8, 1.15),
    shear: float = 0.3,
    shift: float = 0.12,
) -> Tensor:
    """Each image warped by its own random rotation, scale, shear and shift (a fraction of the side)."""
    n = len(x)
    angle = _uniform(n, -degrees, degrees, g) * math.pi / 180
    s = _uniform(n, *scale, g)
    k = _uniform(n, -shear, shear, g)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Inverse map (output -> input coordinates) of rotate(angle) . shear(k) . scale(s).
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos / s
    theta[:, 0, 1] = (sin + k * cos) / s
    theta[:, 1, 0] = -sin / s
    theta[:, 1, 1] = (cos - k * sin) / s
    theta[:, :, 2] = _uniform(2 * n, -2 * shift, 2 * shift, g).view(n, 2)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def change_stroke(x: Tensor, g: torch.Generator, p_thick: float = 0.25, p_thin: float = 0.15) -> Tensor:
    """Dilate (thicker ink) or erode (thinner ink) a random subset of the images by one pixel."""
    choice = torch.rand(len(x), generator=g).to(x.device).view(-1, 1, 1, 1)
    thick = F.max_pool2d(x, 3, stride=1, padding=1)
    thin = -F.max_pool2d(-x, 3, stride=1, padding=1)
    out = torch.where(choice < p_thick, thick, x)
    return torch.where((choice >= p_thick) & (choice < p_thick + p_thin), thin, out)


def blur(x: Tensor, g: torch.Generator, p: float = 0.25, sigma: tuple[float, float] = (0.5, 1.2)) -> Tensor:
    """Gaussian blur (3x3 .. 5x5 kernel) on a random subset of the images."""
    n = len(x)
    sigmas = _uniform(n, *sigma, g)
    offsets = torch.arange(-2, 3, dtype=torch.float32)
    kernel_1d = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * sigmas.view(-1, 1) ** 2))
    kernel_1d = kernel_1d / kernel_1d.sum(dim=1, keepdim=True)
    kernels = (kernel_1d.unsqueeze(2) * kernel_1d.unsqueeze(1)).unsqueeze(1).to(x.device)
    blurred = F.conv2d(x.transpose(0, 1), kernels, padding=2, groups=n).transpose(0, 1)
    chosen = (torch.rand(n, generator=g) < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(chosen, blurred, x)


def low_resolution(
    x: Tensor, g: torch.Generator, p: float = 0.15, sizes: tuple[int, int] = (8, 16)
) -> Tensor:
    """A random subset shrunk to a coarse size and scaled back up, like a thumbnail of a digit."""
    size = int(torch.randint(sizes[0], sizes[1] + 1, (1,), generator=g))
    coarse = F.interpolate(
        F.interpolate(x, size=size, mode="area"), size=x.shape[-1], mode="bilinear", align_corners=False
    )
    chosen = (torch.rand(len(x), generator=g) < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(chosen, coarse, x)


def augment(x: Tensor, g: torch.Generator) -> Tensor:
    """The classifier's training augmentation; `g` is a CPU generator, so runs repeat on every device."""
    x = random_affine(x, g)
    x = change_stroke(x, g)
    x = blur(x, g)
    x = low_resolution(x, g)
    return x.clamp(0, 1)


def mirror_shift_and_blur(x: Tensor, g: torch.Generator, p_mirror: float = 0.5, shift: int = 2) -> Tensor:
    """Left-right mirror of half the images, a shift of up to `shift` pixels (the same for the batch), and
    blur on half of them.

    For photographed objects (Fashion-MNIST): a mirrored coat is still a coat, while the digits' slant and
    stroke distortions only blur the line between shirt, coat and pullover. Blur stays: without it the
    classifier reads the CVAE's soft samples of coats as anything but coats (5% right, against 68% with it).
    """
    chosen = (torch.rand(len(x), generator=g) < p_mirror).to(x.device).view(-1, 1, 1, 1)
    x = torch.where(chosen, x.flip(-1), x)
    dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=g))
    padded = F.pad(x, (shift, shift, shift, shift))
    side_y, side_x = x.shape[-2:]
    shifted = padded[..., shift + dy : shift + dy + side_y, shift + dx : shift + dx + side_x]
    return blur(shifted, g, p=0.5)


# uploads: handwriting from outside MNIST; objects: photographed things (Fashion-MNIST).
Augmentation = Literal["uploads", "objects"]
AUGMENTATIONS: dict[Augmentation, Callable[[Tensor, torch.Generator], Tensor]] = {
    "uploads": augment,
    "objects": mirror_shift_and_blur,
}


def jitter(x: Tensor, g: torch.Generator, p: float) -> Tensor:
    """A mild warp (±8°, ±5% scale, ±1 px) of a random subset: new digits that still look like MNIST's.

    For the CVAE, whose likelihood is measured on MNIST itself, unlike the classifier's heavy augmentation.
    """
    warped = random_affine(x, g, degrees=8, scale=(0.95, 1.05), shear=0.05, shift=0.04)
    chosen = (torch.rand(len(x), generator=g) < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(chosen, warped, x)
