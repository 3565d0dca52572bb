"""The one place images become PNG bytes and grids: shared by the service, evaluation and tests."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def to_uint8(images: Tensor) -> np.ndarray:
    """(N, 1, H, W) or (H, W) intensities in [0, 1] -> uint8 array of the same layout without channel."""
    array = images.detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    return array.reshape(array.shape[0], *array.shape[-2:]) if array.ndim == 4 else array


def make_grid(images: Tensor, nrow: int, padding: int = 2) -> np.ndarray:
    """Tile (N, 1, H, W) images into one uint8 array, `nrow` images per row, black gutters."""
    tiles = to_uint8(images)
    n, h, w = tiles.shape
    rows = -(-n // nrow)
    grid = np.zeros((rows * (h + padding) + padding, nrow * (w + padding) + padding), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = tile
    return grid


def png_bytes(array: np.ndarray, scale: int = 1) -> bytes:
    """8-bit grayscale PNG of a uint8 (H, W) array, optionally enlarged with nearest-neighbour."""
    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
