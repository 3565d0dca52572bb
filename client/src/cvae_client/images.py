"""Images on their way to the service (uploads) and back from it (base64 PNGs as numpy arrays)."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import TypeAlias

import numpy as np
from PIL import Image

# A path (str or PathLike), the file's bytes, a Pillow image, or pixels: uint8 (H, W) grayscale,
# (H, W, 3) RGB or (H, W, 4) RGBA, or floats in [0, 1]. Either polarity: the service detects it.
ImageInput: TypeAlias = str | os.PathLike[str] | bytes | Image.Image | np.ndarray


def upload_file(image: ImageInput) -> tuple[str, bytes]:
    """(file name, bytes) for the multipart `file` field. Files and bytes go as they are, so the service
    sees the upload itself (EXIF orientation, transparency); Pillow images and arrays go as PNG."""
    if isinstance(image, bytes):
        return "upload", image
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        return path.name, path.read_bytes()
    if isinstance(image, np.ndarray):
        image = Image.fromarray(_uint8_pixels(image))
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return "upload.png", buffer.getvalue()
    raise TypeError(f"an image is a path, bytes, a PIL image or a numpy array, not {type(image).__name__}")


def _uint8_pixels(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))):
        raise ValueError(f"one image of shape (H, W), (H, W, 3) or (H, W, 4) at a time, not {array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.floating):
        return np.round(np.clip(array.astype(np.float64), 0.0, 1.0) * 255).astype(np.uint8)
    raise ValueError(f"pixels are uint8, or floats in [0, 1], not {array.dtype}")


def decode_png(data: bytes) -> np.ndarray:
    """A grayscale PNG as a read-only uint8 (H, W) array."""
    with Image.open(io.BytesIO(data)) as image:
        return read_only(np.asarray(image.convert("L"), dtype=np.uint8))


def decode_base64_png(text: str) -> np.ndarray:
    return decode_png(base64.b64decode(text, validate=True))


def decode_base64_pngs(texts: list[str]) -> np.ndarray:
    """The answer's images as one read-only uint8 (N, H, W) array."""
    if not texts:
        return read_only(np.zeros((0, 28, 28), dtype=np.uint8))
    return read_only(np.stack([decode_base64_png(text) for text in texts]))


def read_only(array: np.ndarray) -> np.ndarray:
    """The results are frozen dataclasses; their arrays should not change under them either."""
    array.flags.writeable = False
    return array


def to_pil(array: np.ndarray) -> Image.Image:
    """A uint8 (H, W) array as an 8-bit grayscale ("L") Pillow image."""
    return Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))
