"""Images as the API returns them, through the project's one PNG encoder (model/images.py)."""

from __future__ import annotations

import base64

import numpy as np

from model.images import make_grid, png_bytes


def png_base64(tile: np.ndarray) -> str:
    """A uint8 (H, W) tile as the base64 PNG that the JSON answers carry."""
    return base64.b64encode(png_bytes(tile)).decode("ascii")


def png_base64_tiles(tiles: np.ndarray) -> list[str]:
    """uint8 tiles (N, H, W) -> N base64 PNGs."""
    return [png_base64(tile) for tile in tiles]


def grid_png(tiles: np.ndarray, nrow: int) -> bytes:
    return png_bytes(make_grid(tiles, nrow))
