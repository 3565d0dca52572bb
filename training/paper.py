"""Sheets of paper with printed lines, and how a phone or a scanner records a sheet with writing on it.

Real uploads are often written on squared or ruled notebook paper or in a form's box, whose lines are ink to
a naive preprocessing; training/real_world.py writes real digits on these sheets, training/fragments.py
uses them blank. A sheet is its reflectance (H, W, 3 floats, 1 is white); each line is drawn from every
pixel's distance to it with a soft edge (the lens's blur), tilted a little (a sheet is never square to the
camera or the scanner).
A photo goes through training/photos.py's light, colour cast, grain and JPEG, so that the lighting of every
photographed kind is the same.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from training.photos import colour_cast, exposed, lighting

PAPERS = ("plain", "squared", "ruled", "boxed")
# Lighting kinds of training/photos.py a sheet is photographed under.
LIGHTS = ("plain", "gradient", "vignette", "shadow", "colour cast", "combined")
UNEVEN_LIGHTS = ("gradient", "vignette", "shadow", "combined")
# A printed line's edge is this many pixels wide: a lens or a scanner blurs it.
SOFT_EDGE = 1.8


def sheet(
    paper: str,
    rng: np.random.Generator,
    frame: tuple[int, int],
    digit_height: float,
    digit_box: tuple[float, float, float, float],
    max_tilt: float = 4.0,
) -> np.ndarray:
    """White to off-white paper of the (height, width) frame with the printed lines `paper` names: squares
    0.3 to 1 digit high, ruled lines 0.7 to 1.5 digits apart (a red margin line on half of them), or a
    form's box (a cell of a table on half of them) around `digit_box` (top, left, bottom, right)."""
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r} (expected one of {PAPERS})")
    height, width = frame
    colour = np.clip(rng.uniform(0.9, 1.0) + rng.uniform(-0.04, 0.01, 3), 0, 1).astype(np.float32)
    page = np.broadcast_to(colour, (height, width, 3)).copy()
    if paper == "plain":
        return page
    ys, xs = np.ogrid[0:height, 0:width]
    tilt = np.deg2rad(rng.uniform(-max_tilt, max_tilt))
    cos, sin = np.float32(np.cos(tilt)), np.float32(np.sin(tilt))
    down, across = cos * ys - sin * xs, cos * xs + sin * ys  # the sheet's own axes
    line = rng.uniform(0.8, 2.2)
    if paper == "squared":
        pitch = digit_height * rng.uniform(0.3, 1.0)
        phases = rng.uniform(0, pitch, 2)
        cover = np.maximum(
            _periodic(down - phases[0], pitch, line), _periodic(across - phases[1], pitch, line)
        )
        _print(page, cover, _notebook_ink(rng))
    elif paper == "ruled":
        pitch = digit_height * rng.uniform(0.7, 1.5)
        _print(page, _periodic(down - rng.uniform(0, pitch), pitch, line), _notebook_ink(rng))
        if rng.random() < 0.5:
            margin = _cover(np.abs(across - rng.uniform(0.05, 0.3) * width), line * rng.uniform(1.0, 1.6))
            _print(page, margin, np.array([0.95, rng.uniform(0.4, 0.65), rng.uniform(0.5, 0.7)], np.float32))
    else:
        _print(page, _box(down, across, rng, digit_height, digit_box, line + 0.5), _form_ink(rng))
    return page


def write(
    page: np.ndarray,
    ink: np.ndarray,
    top: int,
    left: int,
    pen: np.ndarray,
    opacity: float,
    rng: np.random.Generator,
) -> None:
    """Ink (a tile of coverage, 0 to 1) of the `pen`'s reflectance written on the page over its lines,
    blurred as a lens or a scanner blurs it (the printed lines have soft edges of their own)."""
    blurred = Image.fromarray((ink * 255 + 0.5).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0.4, 1.3))
    )
    cover = np.asarray(blurred, np.float32) * (opacity / 255)
    tile = page[top : top + ink.shape[0], left : left + ink.shape[1]]
    tile *= 1.0 - cover[..., None] * (1.0 - pen)


def photographed(
    page: np.ndarray, rng: np.random.Generator, light: str, centre: tuple[float, float]
) -> bytes:
    """The page as a phone saves it: the light of training/photos.py's `light` kind (its shadows falling
    near `centre`), a colour cast, grain and JPEG."""
    falling = lighting(light, rng, page.shape[:2], centre)
    cast = colour_cast(rng, strong=light in ("colour cast", "combined"))
    page *= falling[..., None]
    page *= cast
    return exposed(page, rng)


def scanned(page: np.ndarray, rng: np.random.Generator) -> bytes:
    """The page as a scanner saves it: even light, a little noise, grey or colour, PNG or JPEG."""
    page *= rng.uniform(0.95, 1.05)
    page += rng.uniform(0, 0.012) * rng.standard_normal(page.shape[:2], dtype=np.float32)[..., None]
    image = Image.fromarray(np.clip(page * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.5:
        image = image.convert("L")
    buffer = io.BytesIO()
    if rng.random() < 0.5:
        image.save(buffer, "PNG")
    else:
        image.save(buffer, "JPEG", quality=int(rng.integers(70, 96)))
    return buffer.getvalue()


def _cover(distance: np.ndarray, width: float) -> np.ndarray:
    """How much of each pixel a line of `width` covers, from the pixel's distance to its middle, with an
    edge SOFT_EDGE pixels wide."""
    return np.clip((width / 2 - distance) / SOFT_EDGE + 0.5, 0.0, 1.0)


def _periodic(position: np.ndarray, pitch: float, width: float) -> np.ndarray:
    """Lines every `pitch` pixels along `position`, one of them at 0."""
    offset = np.mod(position, pitch)
    return _cover(np.minimum(offset, pitch - offset), width)


def _box(
    down: np.ndarray,
    across: np.ndarray,
    rng: np.random.Generator,
    digit_height: float,
    digit_box: tuple[float, float, float, float],
    width: float,
) -> np.ndarray:
    """A rectangle around the digit with a margin of 0.1 to 0.4 digit heights on each side or, on half of
    them, the table whose cell it is (its lines run across the whole sheet)."""
    top, left, bottom, right = (
        edge + sign * digit_height * rng.uniform(0.1, 0.4)
        for edge, sign in zip(digit_box, (-1, -1, 1, 1), strict=True)
    )
    if rng.random() < 0.5:
        rows = _cover(np.minimum(np.abs(down - top), np.abs(down - bottom)), width)
        columns = _cover(np.minimum(np.abs(across - left), np.abs(across - right)), width)
        rows *= (across > left - width) & (across < right + width)
        columns *= (down > top - width) & (down < bottom + width)
        return np.maximum(rows, columns)
    rows = _periodic(down - top, bottom - top, width)
    columns = _periodic(across - left, right - left, width)
    return np.maximum(rows, columns)


def _print(page: np.ndarray, cover: np.ndarray, colour: np.ndarray) -> None:
    page *= 1.0 - cover[..., None] * (1.0 - colour)


def _notebook_ink(rng: np.random.Generator) -> np.ndarray:
    """A notebook's faint lines: light blue, or light grey."""
    if rng.random() < 0.6:
        return np.array([rng.uniform(0.5, 0.7), rng.uniform(0.65, 0.85), rng.uniform(0.9, 1.0)], np.float32)
    return np.full(3, rng.uniform(0.55, 0.8), np.float32)


def _form_ink(rng: np.random.Generator) -> np.ndarray:
    """A printed form's lines: dark grey, or blue."""
    if rng.random() < 0.7:
        return np.full(3, rng.uniform(0.05, 0.4), np.float32)
    return np.array([rng.uniform(0.1, 0.3), rng.uniform(0.2, 0.4), rng.uniform(0.6, 0.85)], np.float32)
