"""MNIST-style preprocessing of an uploaded image: any size, format or polarity -> one (1, 1, 28, 28) tensor.

The steps follow how MNIST itself was made (LeCun et al.): the digit is cropped to its ink, fitted into a
20x20 box keeping its aspect ratio (with anti-aliasing), and placed in the 28x28 field so that its centre of
mass lies at the centre. Before that, an upload is made to look like MNIST's ink: EXIF orientation applied,
the first frame of an animation taken, transparency flattened, grayscale, and the polarity detected so that
the ink is bright on a black background whichever way round it was written.

Every way an upload can fail raises a subclass of UploadError; this module knows nothing of HTTP, the service
maps each class to a status code.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

IMAGE_SIZE = 28
BOX_SIZE = 20
# MNIST's mean centre of mass, in pixel indices of the 28x28 field, is (14.0, 14.0) on the fixed test split.
CENTRE = 14.0
# The formats a browser, phone or scanner produces; Pillow's other readers (EPS runs Ghostscript, for one)
# are not offered to untrusted uploads. JPEG includes MPO, which many cameras write.
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
DEFAULT_MAX_PIXELS = 25_000_000
# Images are box-reduced to this long side first: a digit needs a few dozen pixels, not twelve million.
WORKING_SIZE = 1024
# Ink must stand out from the paper by this fraction of the full intensity range, else the image is blank.
MIN_CONTRAST = 0.1
# Intensities within this fraction of the contrast above the paper are paper texture or noise, not ink.
NOISE_FLOOR = 0.1


class UploadError(ValueError):
    """An upload that cannot become a digit image; the message says why, in words for the uploader."""


class NotAnImageError(UploadError):
    """The bytes are not an image in one of the accepted formats."""


class UndecodableImageError(UploadError):
    """An image format was recognised but the file is empty, truncated or corrupt."""


class TooManyPixelsError(UploadError):
    """The image declares more pixels than allowed; raised before any pixel is decoded."""


class NoInkError(UploadError):
    """The image decodes but shows nothing that stands out from the background."""


def preprocess_upload(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
    """The uploaded image as a (1, 1, 28, 28) float tensor in [0, 1], white digit on black, like MNIST."""
    image = open_image(data, max_pixels)
    ink = ink_intensity(grayscale(image))
    return torch.from_numpy(centre_in_field(fit_in_box(crop_to_ink(ink))))[None, None]


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """The first frame, decoded and upright; its declared size is checked before any pixel is decoded."""
    if not data:
        raise UndecodableImageError("empty file")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise NotAnImageError(f"not an image in an accepted format ({', '.join(FORMATS)})") from None
    except Image.DecompressionBombError:
        raise TooManyPixelsError(f"image has more than {max_pixels} pixels") from None
    except Exception as e:  # Pillow's header parsers raise many types for damaged files
        raise UndecodableImageError(f"cannot read {type(e).__name__}: {e}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise TooManyPixelsError(f"image is {width}x{height} pixels, more than the limit of {max_pixels}")
    try:
        image.seek(0)
        image.load()
        upright = ImageOps.exif_transpose(image)
    except Exception as e:  # the decoders raise OSError, SyntaxError, ValueError, EOFError, ... for bad data
        raise UndecodableImageError(f"cannot decode {image.format} image ({e})") from None
    return upright if upright is not None else image


def grayscale(image: Image.Image) -> np.ndarray:
    """(H, W) float32 in [0, 1], transparency flattened onto whichever of white or black the ink is not."""
    try:
        image = _reduced(_working_mode(image))
    except (ValueError, OSError) as e:  # a colour mode Pillow cannot convert
        raise UndecodableImageError(f"cannot convert a {image.mode} image to grayscale ({e})") from None
    if image.mode in ("I", "F"):
        gray = np.asarray(image, dtype=np.float32)
        low, high = float(gray.min()), float(gray.max())
        return (gray - low) / (high - low) if high > low else np.zeros_like(gray)
    array = np.asarray(image, dtype=np.float32) / 255.0
    if image.mode == "L":
        return array
    gray, alpha = array[..., 0], array[..., 1]
    # Drawn strokes on a transparent canvas: opaque pixels are the ink, so the background must contrast.
    ink_is_dark = np.average(gray, weights=alpha) < 0.5 if alpha.sum() > 0 else False
    background = 1.0 if ink_is_dark else 0.0
    return gray * alpha + background * (1.0 - alpha)


def _working_mode(image: Image.Image) -> Image.Image:
    """L, or LA when there is transparency; I or F for deep images, whose range is stretched later."""
    if image.mode.startswith("I;16"):
        return image.convert("I")
    if image.mode in ("I", "F"):
        return image
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        return image.convert("RGBA").convert("LA")
    if image.mode in ("L", "1", "P", "RGB"):
        return image.convert("L")
    return image.convert("RGB").convert("L")  # CMYK, YCbCr, LAB, HSV have no direct route to L


def _reduced(image: Image.Image) -> Image.Image:
    factor = math.ceil(max(image.size) / WORKING_SIZE)
    return image.reduce(factor) if factor > 1 else image


def ink_intensity(gray: np.ndarray) -> np.ndarray:
    """Ink as bright values on 0, whichever polarity the page had: the paper is what the border shows."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    darkest, brightest = float(gray.min()), float(gray.max())
    # The ink is the extreme farther from the paper: dark ink on light paper is inverted.
    if paper - darkest > brightest - paper:
        gray, paper, brightest = 1.0 - gray, 1.0 - paper, 1.0 - darkest
    contrast = brightest - paper
    if contrast < MIN_CONTRAST:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    floor = paper + NOISE_FLOOR * contrast
    return np.clip((gray - floor) / (brightest - floor), 0.0, 1.0).astype(np.float32)


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def fit_in_box(ink: np.ndarray) -> np.ndarray:
    """Resized with Lanczos so the longer side is BOX_SIZE, as MNIST's anti-aliased 20x20 normalisation."""
    height, width = ink.shape
    scale = BOX_SIZE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def centre_in_field(box: np.ndarray) -> np.ndarray:
    """The box pasted in a black 28x28 field, shifted by whole pixels so its centre of mass is at CENTRE."""
    height, width = box.shape
    ys, xs = np.indices(box.shape)
    mass = box.sum()
    if mass <= 0:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    top = _offset(CENTRE - (ys * box).sum() / mass, IMAGE_SIZE - height)
    left = _offset(CENTRE - (xs * box).sum() / mass, IMAGE_SIZE - width)
    field = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    field[top : top + height, left : left + width] = box
    return field


def _offset(shift: float, limit: int) -> int:
    return min(max(round(shift), 0), limit)
