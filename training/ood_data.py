"""Uploads to measure `is_digit` on: digits from elsewhere, and non-digits of several kinds, as image files.

Every kind is a seeded generator of the bytes a user could upload (PNG or JPEG, any size, either polarity),
so the measurement goes through the service's own preprocessing, as a real upload does:
- digits that must pass: the held-out test digits themselves; the same digits drawn at other sizes and
  stroke widths, dark on white; drawings like the page's pad makes (thick strokes on a 280x280 canvas);
- things that must be flagged: Fashion-MNIST test images, letters rendered from fonts (the ones that look
  like no digit), crops of a photograph, noise, and pictures of several geometric shapes.

The OOD detector (model/detector.py) is trained on outliers too (training/outliers.py), from these generators
with other arguments and other seeds, so that what the report measures stays unseen: its letters are drawn
in the DejaVu Serif fonts only (REPORT_FONTS), the detector's in the Sans and Mono ones; its photograph is
Grace Hopper's portrait, which the detector never sees; and Fashion-MNIST is never trained on.

Letters that are digits in disguise (O, I, l, S, Z, B, b, g, q, ...) are left out: no model can tell an "O"
from a "0" on a 28x28 field. A lone circle is a zero for the same reason, so shapes come two to four at once.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Letters whose glyphs in common fonts are not close to any digit.
LETTERS = "ACEFHKMNPRTUVWXYacefhkmnprtuvwxy"
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
# The report's letters: a font family the OOD detector is not trained on.
REPORT_FONTS = "DejaVuSerif*.ttf"
Kind = Callable[[np.random.Generator], bytes]


def _encode(image: Image.Image, rng: np.random.Generator, jpeg: bool = False) -> bytes:
    buffer = io.BytesIO()
    if jpeg:
        image.convert("RGB").save(buffer, "JPEG", quality=int(rng.integers(60, 95)))
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def digit_png(digit: np.ndarray) -> bytes:
    """A 28x28 uint8 digit as its PNG file: white on black, as MNIST stores it."""
    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, "PNG")
    return buffer.getvalue()


def resized_digit(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The digit drawn larger (40 to 300 pixels), thicker or thinner, dark ink on white, off-centre."""
    side = int(rng.integers(40, 301))
    image = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    stroke = int(rng.integers(-1, 3)) * 2 + 1  # odd filter sizes: 1 (none), 3, 5 thicker; -1: thinner
    if stroke > 1:
        image = image.filter(ImageFilter.MaxFilter(min(stroke, side // 20 * 2 + 1)))
    elif stroke < 0:
        image = image.filter(ImageFilter.MinFilter(3))
    canvas = Image.new("L", (side + int(rng.integers(0, side)), side + int(rng.integers(0, side))), 0)
    canvas.paste(
        image, (int(rng.integers(0, canvas.width - side + 1)), int(rng.integers(0, canvas.height - side + 1)))
    )
    return _encode(Image.eval(canvas, lambda v: 255 - v), rng)


def pad_drawing(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """What the page's pad sends: a 280x280 white canvas, the digit in solid dark strokes of pen width."""
    side = int(rng.integers(150, 260))
    shape = (
        Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR).point(lambda v: 255 * (v > 90))
    )
    canvas = Image.new("L", (280, 280), 0)
    canvas.paste(shape, (int(rng.integers(0, 281 - side)), int(rng.integers(0, 281 - side))))
    return _encode(Image.eval(canvas, lambda v: 255 - v), rng)


def font_files(pattern: str) -> list[Path]:
    """The installed font files whose names match the glob `pattern`."""
    return [path for folder in FONT_DIRS if folder.is_dir() for path in sorted(folder.glob(pattern))]


def letters(fonts: list[Path]) -> Kind:
    """One letter that looks like no digit, in one of `fonts` (Pillow's own font where there is none), dark
    on white."""

    def draw(rng: np.random.Generator) -> bytes:
        size = int(rng.integers(30, 200))
        font = (
            ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]), size)
            if fonts
            else ImageFont.load_default(size)
        )
        image = Image.new("L", (2 * size, 2 * size), 255)
        ImageDraw.Draw(image).text((size // 2, size // 4), str(rng.choice(list(LETTERS))), fill=0, font=font)
        return _encode(image, rng)

    return draw


def shapes(rng: np.random.Generator) -> bytes:
    """Two to four circles, squares and triangles, outlined or filled, side by side on white."""
    width, height = int(rng.integers(200, 640)), int(rng.integers(150, 480))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    count = int(rng.integers(2, 5))
    cell = width // count
    for i in range(count):
        r = int(rng.integers(cell // 5, min(cell, height) // 2 - 2))
        cx, cy = i * cell + cell // 2, int(rng.integers(r, height - r))
        colour = tuple(int(c) for c in rng.integers(0, 150, 3))
        fill = colour if rng.random() < 0.5 else None
        box = (cx - r, cy - r, cx + r, cy + r)
        shape = int(rng.integers(3))
        if shape == 0:
            draw.ellipse(box, outline=colour, fill=fill, width=max(2, r // 6))
        elif shape == 1:
            draw.rectangle(box, outline=colour, fill=fill, width=max(2, r // 6))
        else:
            points = [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
            draw.polygon(points, outline=colour, fill=fill, width=max(2, r // 6))
    return _encode(image, rng)


def noise(rng: np.random.Generator) -> bytes:
    """Uniform, Gaussian or salt-and-pepper noise, grey or colour, of a random size."""
    height, width = int(rng.integers(28, 400)), int(rng.integers(28, 400))
    channels = 3 if rng.random() < 0.5 else 1
    shape = (height, width, channels)
    kind = int(rng.integers(3))
    if kind == 0:
        pixels = rng.integers(0, 256, shape)
    elif kind == 1:
        pixels = np.clip(rng.normal(128, 60, shape), 0, 255)
    else:
        pixels = 255 * (rng.random(shape) < 0.5)
    image = Image.fromarray(pixels.astype(np.uint8).squeeze(-1) if channels == 1 else pixels.astype(np.uint8))
    return _encode(image, rng, jpeg=rng.random() < 0.5)


def photo_crops(photo: Image.Image) -> Kind:
    """Crops of a photograph at random places and sizes, as JPEG files."""

    def crop(rng: np.random.Generator) -> bytes:
        side = int(rng.integers(min(photo.size) // 6, min(photo.size)))
        left, top = (
            int(rng.integers(0, photo.width - side + 1)),
            int(rng.integers(0, photo.height - side + 1)),
        )
        return _encode(photo.crop((left, top, left + side, top + side)), rng, jpeg=True)

    return crop


def sample_photo() -> Image.Image:
    """Grace Hopper's portrait, which matplotlib ships as sample data: a real photograph, offline."""
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as file:
        return Image.open(file).convert("RGB")


def from_images(images: np.ndarray, render: Callable[[np.ndarray, np.random.Generator], bytes]) -> Kind:
    """A kind drawing its uploads from given 28x28 images in order, each rendered by `render`."""
    iterator: Iterator[np.ndarray] = iter(images)

    def draw(rng: np.random.Generator) -> bytes:
        return render(next(iterator), rng)

    return draw


def uploads(kind: Kind, n: int, seed: int | list[int]) -> list[bytes]:
    """n uploads of a kind from the generator seeded by `seed` (a list seeds streams no integer does)."""
    rng = np.random.default_rng(seed)
    return [kind(rng) for _ in range(n)]
