"""The one place images become PNG bytes and grids: shared by the service, evaluation and tests."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import torch
from torch import Tensor

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def to_uint8(images: Tensor) -> np.ndarray:
    """(N, 1, H, W) or (H, W) intensities in [0, 1] -> uint8 array of the same layout without channel."""
    array = images.detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    return array.reshape(array.shape[0], *array.shape[-2:]) if array.ndim == 4 else array


def make_grid(images: Tensor | np.ndarray, nrow: int, padding: int = 2) -> np.ndarray:
    """Tile (N, 1, H, W) intensities, or uint8 tiles (N, H, W), into one uint8 array, `nrow` images per
    row, black gutters."""
    tiles = images if isinstance(images, np.ndarray) else to_uint8(images)
    n, h, w = tiles.shape
    rows = -(-n // nrow)
    grid = np.zeros((rows * (h + padding) + padding, nrow * (w + padding) + padding), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = tile
    return grid


def png_bytes(array: np.ndarray, scale: int = 1) -> bytes:
    """8-bit grayscale PNG of a uint8 (H, W) array, optionally enlarged with nearest-neighbour.

    Written directly (signature, header, one zlib stream of unfiltered rows, end) rather than through
    Pillow: for the service's 28x28 tiles that is 2.3x faster (30 against 70 us a tile on the project's
    CPU), and zlib runs without the GIL. Pillow reads it back pixel for pixel (tests/test_images.py).
    """
    array = np.asarray(array, dtype=np.uint8)
    if scale > 1:
        array = array.repeat(scale, axis=0).repeat(scale, axis=1)
    height, width = array.shape
    scanlines = np.zeros((height, width + 1), dtype=np.uint8)  # each row starts with filter type 0 (none)
    scanlines[:, 1:] = array
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale, no interlace
    return b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)),
            _png_chunk(b"IEND", b""),
        )
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
