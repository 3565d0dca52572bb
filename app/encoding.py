"""Tensors of images as the API returns them, through the project's one PNG encoder (model/images.py)."""

from __future__ import annotations

import base64

from torch import Tensor

from model.images import make_grid, png_bytes, to_uint8


def png_base64(images: Tensor) -> list[str]:
    """(N, 1, H, W) intensities in [0, 1] -> N base64 strings of 8-bit grayscale PNGs."""
    return [base64.b64encode(png_bytes(tile)).decode("ascii") for tile in to_uint8(images)]


def grid_png(images: Tensor, nrow: int) -> bytes:
    return png_bytes(make_grid(images, nrow))
