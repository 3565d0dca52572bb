import io

import numpy as np
import torch
from PIL import Image

from model.images import make_grid, png_bytes, to_uint8


def test_png_is_8_bit_grayscale_and_lossless() -> None:
    array = np.arange(28 * 28, dtype=np.uint16).reshape(28, 28).astype(np.uint8)
    image = Image.open(io.BytesIO(png_bytes(array)))
    assert image.format == "PNG" and image.mode == "L" and image.size == (28, 28)
    assert np.array_equal(np.asarray(image), array)
    assert Image.open(io.BytesIO(png_bytes(array, scale=3))).size == (84, 84)


def test_png_of_any_shape_passes_pillows_checks() -> None:
    """The PNG writer is our own: Pillow checks its chunks' CRCs and reads back every pixel, scaled too."""
    array = np.random.default_rng(0).integers(0, 256, (3, 5), dtype=np.uint8)
    Image.open(io.BytesIO(png_bytes(array))).verify()
    scaled = np.asarray(Image.open(io.BytesIO(png_bytes(array, scale=2))))
    assert np.array_equal(scaled, array.repeat(2, axis=0).repeat(2, axis=1))


def test_to_uint8_rounds_and_clamps() -> None:
    images = torch.tensor([[-0.5, 0.0], [0.5, 2.0]]).view(1, 1, 2, 2)
    assert to_uint8(images).tolist() == [[[0, 0], [128, 255]]]


def test_grid_places_tiles_row_by_row() -> None:
    images = torch.stack([torch.full((1, 2, 2), v) for v in (0.2, 0.4, 0.6)])
    grid = make_grid(images, nrow=2, padding=1)
    assert grid.shape == (1 + 2 * 3, 1 + 2 * 3)
    assert grid[1, 1] == 51 and grid[1, 4] == 102 and grid[4, 1] == 153
    assert grid[4, 4] == 0 and grid[0].max() == 0  # empty slot and gutters stay black
