"""Handwritten digits rendered as phone photos, to measure how uploads that are photos of paper are read.

A real MNIST digit (white on black, 28x28) is enlarged and drawn as dark ink on off-white paper somewhere in
a 480x640 or 640x480 frame, then lit the way a page on a desk is: a linear gradient, a radial vignette, a soft
shadow, a colour cast, or several at once; the camera adds grain, a little blur and JPEG compression. Each
kind changes one thing, so accuracy can be reported per kind. Every photo is drawn from its own generator,
seeded by (seed, kind, digit index), so a set is the same bytes whatever order or subset is rendered.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

FRAME = (480, 640)  # width, height of a portrait frame; landscape frames swap them
# Height of the digit's 20-pixel MNIST box once drawn, in frame pixels.
DIGIT_HEIGHT = (60, 250)
SMALL_DIGIT_HEIGHT = (32, 56)
# A small digit's tile is this close to a corner of the frame.
CORNER = 40
JPEG_QUALITY = (50, 90)
# The lighting is computed every LIGHT_STEP pixels: shadows are softer than that.
LIGHT_STEP = 4
KINDS = ("plain", "gradient", "vignette", "shadow", "colour cast", "small digit", "combined")


@dataclass(frozen=True)
class Photo:
    """One rendered upload: the encoded image, the digit it shows, and the kind of photo it is."""

    data: bytes
    label: int
    kind: str


def photo_rng(seed: int, kind: str, index: int) -> np.random.Generator:
    """The generator of one photo, independent of every other photo of the set and of the list of kinds."""
    return np.random.default_rng([seed, zlib.crc32(kind.encode()), index])


def render_photo(digit: np.ndarray, label: int, kind: str, rng: np.random.Generator) -> Photo:
    """`digit` (28x28 uint8, white on black) photographed on paper under the lighting that `kind` names."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected one of {KINDS})")
    width, height = FRAME if rng.random() < 0.5 else FRAME[::-1]
    small = kind == "small digit"
    ink, top, left = place(digit, rng, (height, width), SMALL_DIGIT_HEIGHT if small else DIGIT_HEIGHT, small)
    light = lighting(kind, rng, (height, width), (top + ink.shape[0] / 2, left + ink.shape[1] / 2))
    cast = colour_cast(rng, strong=kind in ("colour cast", "combined"))
    paper = (rng.uniform(0.82, 0.96) + rng.uniform(-0.03, 0.03, 3)).astype(np.float32)
    pen = pen_colour(rng)
    # The lens blurs the scene, and only the ink has edges in it; the sensor's grain comes after.
    blurred = Image.fromarray((ink * 255 + 0.5).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0.4, 1.3))
    )
    coverage = np.asarray(blurred, np.float32)[..., None] * (rng.uniform(0.8, 0.97) / 255)
    pixels = light[..., None] * (paper * cast)
    tile = (slice(top, top + ink.shape[0]), slice(left, left + ink.shape[1]))
    pixels[tile] += light[tile][..., None] * coverage * ((pen - paper) * cast)
    return Photo(exposed(pixels, rng), int(label), kind)


def pen_colour(rng: np.random.Generator) -> np.ndarray:
    """A pen's ink as reflectance (3 channels): near black, often a little blue."""
    return (rng.uniform(0.03, 0.2) + rng.uniform(0.0, 0.12, 3) * np.array([0.3, 0.3, 1.0])).astype(np.float32)


def exposed(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    """The scene's light (H, W, 3 floats, 1 is white) as the camera saves it: grain, then a JPEG of quality
    JPEG_QUALITY."""
    height, width = pixels.shape[:2]
    pixels = pixels + rng.uniform(0.01, 0.035) * rng.standard_normal((height, width, 1), dtype=np.float32)
    image = Image.fromarray(np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
    return buffer.getvalue()


def render_clean(digit: np.ndarray, label: int, rng: np.random.Generator) -> Photo:
    """The reference upload: the same kind of enlarged digit, black ink on white paper, no light, PNG."""
    width, height = FRAME if rng.random() < 0.5 else FRAME[::-1]
    ink, top, left = place(digit, rng, (height, width), DIGIT_HEIGHT, in_corner=False)
    page = np.full((height, width), 255, dtype=np.uint8)
    page[top : top + ink.shape[0], left : left + ink.shape[1]] = (255 * (1 - ink) + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    return Photo(buffer.getvalue(), int(label), "clean")


def place(
    digit: np.ndarray,
    rng: np.random.Generator,
    frame: tuple[int, int],
    heights: tuple[float, float],
    in_corner: bool,
    thresholds: tuple[float, float] = (0.25, 0.6),
) -> tuple[np.ndarray, int, int]:
    """The digit's ink (0 to 1) enlarged to a random height with a random stroke weight, and the top left
    of its tile in the (height, width) frame: anywhere, or within CORNER pixels of a corner. A higher
    threshold of the enlarged digit (`thresholds`, fractions of full ink) is a finer pen."""
    side = round(28 * rng.uniform(*heights) / 20)
    ink = pen_ink(digit, side, rng, thresholds)
    # The tile has a margin of paper (4 of MNIST's 28 pixels) on each side: up to 3 of them may be cut off,
    # so the ink can come within a pixel of the frame's edge.
    margin = round(side * 3 / 28)
    corner = [int(rng.integers(-margin, CORNER)) for _ in range(2)]
    starts = []
    for length, size, offset in zip(frame, ink.shape, corner, strict=True):
        if not in_corner:
            start = int(rng.integers(-margin, length - size + margin + 1))
        else:
            start = offset if rng.random() < 0.5 else length - size - offset
        starts.append(min(max(start, 0), length - size))
    return ink, starts[0], starts[1]


def pen_ink(
    image: np.ndarray, rows: int, rng: np.random.Generator, thresholds: tuple[float, float] = (0.25, 0.6)
) -> np.ndarray:
    """A white-on-black image (a digit, or a number's strip of any width) enlarged to `rows` pixels high,
    its width in proportion, as a pen's ink (0 to 1) of a random stroke weight: see place."""
    columns = round(rows * image.shape[1] / image.shape[0])
    enlarged = Image.fromarray(image).resize((columns, rows), Image.Resampling.BICUBIC)
    # A pen draws a stroke of nearly even darkness: a soft threshold of the enlarged digit, a lower one
    # for a bolder pen.
    threshold = rng.uniform(*thresholds) * 255
    return np.clip((np.asarray(enlarged, np.float32) - threshold) / 60 + 0.5, 0.0, 1.0).astype(np.float32)


def lighting(
    kind: str, rng: np.random.Generator, frame: tuple[int, int], digit_centre: tuple[float, float]
) -> np.ndarray:
    """The light falling on each pixel (H, W) of a frame lit as `kind` says (one of KINDS); it is smooth,
    so it is computed every LIGHT_STEP pixels."""
    height, width = frame
    ys, xs = np.mgrid[0:height:LIGHT_STEP, 0:width:LIGHT_STEP].astype(np.float32)
    light = np.full(ys.shape, rng.uniform(0.8, 1.05), dtype=np.float32)
    if kind in ("gradient", "combined"):
        light *= _gradient(rng, ys, xs, low=rng.uniform(0.3, 0.6))
    if kind in ("small digit", "colour cast"):
        light *= _gradient(rng, ys, xs, low=rng.uniform(0.7, 0.9))
    if kind in ("vignette", "combined"):
        light *= _vignette(rng, ys, xs, frame)
    if kind in ("shadow", "combined"):
        light *= _shadow(rng, ys, xs, frame, digit_centre)
    return np.asarray(Image.fromarray(light, "F").resize((width, height), Image.Resampling.BILINEAR))


def _gradient(rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray, low: float) -> np.ndarray:
    """Light falling off linearly from 1 to `low` across the frame, in a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    along = np.cos(angle) * xs + np.sin(angle) * ys
    along = (along - along.min()) / (along.max() - along.min())
    return 1.0 - (1.0 - low) * along


def _vignette(rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """A lamp's pool of light: bright near a point, darker towards the corners."""
    height, width = frame
    cy, cx = height * rng.uniform(0.3, 0.7), width * rng.uniform(0.3, 0.7)
    r2 = ((ys - cy) ** 2 + (xs - cx) ** 2) / (0.5 * max(height, width)) ** 2
    return 1.0 - rng.uniform(0.35, 0.6) * np.minimum(r2, 1.5) / 1.5


def _shadow(
    rng: np.random.Generator,
    ys: np.ndarray,
    xs: np.ndarray,
    frame: tuple[int, int],
    digit_centre: tuple[float, float],
) -> np.ndarray:
    """A soft shadow (of a hand, phone or pen): a half-plane, a band or a blob, often across the digit."""
    height, width = frame
    if rng.random() < 0.6:  # through a point near the digit, else anywhere
        cy, cx = digit_centre[0] + rng.normal(0, 40), digit_centre[1] + rng.normal(0, 40)
    else:
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    softness = rng.uniform(8, 50)
    shape = rng.choice(["edge", "band", "blob"])
    if shape == "blob":
        radius = rng.uniform(100, 220)
        distance = np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2) - radius
    else:
        angle = rng.uniform(0, np.pi)
        across = np.cos(angle) * (xs - cx) + np.sin(angle) * (ys - cy)
        distance = across if shape == "edge" else np.abs(across) - rng.uniform(60, 150)
    inside = 1.0 / (1.0 + np.exp(np.clip(distance / softness * 4, -30, 30)))
    return 1.0 - rng.uniform(0.3, 0.55) * inside


def colour_cast(rng: np.random.Generator, strong: bool) -> np.ndarray:
    """Per-channel gains of the light: tungsten, shade or fluorescent, mild unless `strong`."""
    strength = rng.uniform(0.15, 0.35) if strong else rng.uniform(0.0, 0.08)
    direction = rng.choice([[0.0, -0.4, -1.0], [-1.0, -0.4, 0.0], [-0.6, 0.0, -0.8], [0.0, -1.0, -0.3]])
    gains = 1.0 + strength * np.asarray(direction)
    return (gains / gains.max()).astype(np.float32)


def photo_set(
    images: np.ndarray, labels: np.ndarray, kind: str, indices: Sequence[int], seed: int = 0
) -> list[Photo]:
    """The digits at `indices` rendered as photos of `kind` ("clean" for the reference uploads); a digit's
    photo depends on its index, not on which others are rendered with it."""
    if kind == "clean":
        return [render_clean(images[i], int(labels[i]), photo_rng(seed, kind, i)) for i in indices]
    return [render_photo(images[i], int(labels[i]), kind, photo_rng(seed, kind, i)) for i in indices]
