"""Real handwritten digits as they reach the service from outside MNIST: uploads made from MNIST digits.

Each renderer turns a real MNIST digit (28x28 uint8, white on black), its label and a generator into the
bytes of an upload file, so that what is measured or trained on goes through the service's preprocessing:
- "low resolution": reduced to 8x8 (or 10 to 16 pixels) by area averaging, often binarised and counted in
  17 grey levels as the UCI optdigits scans are, then enlarged again (nearest or bilinear), dark on white;
- "thick pen": a felt-tip redraw whose stroke is 1/6 to 1/3 of the digit's height, filling the image;
- "pencil": light to mid grey strokes with graphite's grain, on white or off-white paper, scanned or
  photographed;
- "blue pen", "black pen": ballpoint-thin strokes on plain paper, photographed;
- "squared paper", "ruled paper": a ballpoint digit across a notebook's printed lines, photographed under
  uneven light; "boxed": the digit in a form's box, scanned (training/paper.py);
- "European 1s and crossed 7s": 1s with a flag at the top of the stem and 7s with a bar across it (only
  for labels 1 and 7), clean or photographed.
The outlier detector's sets are drawn per image (render_set, like training/photos.py's photo_set), so a set
is the same bytes whatever order or subset is rendered; the report draws each kind from one stream
(from_labelled), as it does training/ood_data.py's kinds.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from training import ood_data, paper
from training.photos import DIGIT_HEIGHT, FRAME, photo_rng, place, render_clean, render_photo

T = TypeVar("T")
Renderer = Callable[[np.ndarray, int, np.random.Generator], bytes]
EUROPEAN = "European 1s and crossed 7s"
EUROPEAN_LABELS = (1, 7)
# Enlarged scans are this many pixels wide.
SCAN_SIDE = (64, 400)
# A ballpoint is a finer pen than photos.py's: a higher threshold of the enlarged MNIST stroke.
BALLPOINT = (0.45, 0.75)


def low_resolution(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """The digit cropped to its ink, reduced to 8x8 (10 to 16 pixels for 4 in 10) by area averaging, on 7
    in 10 binarised first and counted in 17 levels like UCI optdigits, then enlarged: see enlarged_scan."""
    rows, cols = np.nonzero(digit)
    ink = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    counted = rng.random() < 0.7
    if counted:
        ink = np.where(ink > 127, 255, 0).astype(np.uint8)
    side = max(ink.shape) + 2 * round(max(ink.shape) * rng.uniform(0.0, 0.15))
    square = np.zeros((side, side), np.uint8)
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    square[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    size = 8 if rng.random() < 0.6 else int(rng.integers(10, 17))
    small = np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.BOX), np.float32) / 255
    return enlarged_scan(np.round(small * 16) / 16 if counted else small, rng)


def enlarged_scan(small: np.ndarray, rng: np.random.Generator) -> bytes:
    """A tiny digit (ink 0 to 1) enlarged to 64 to 400 pixels, nearest or bilinear, dark on white, on half
    of them with a white margin of up to 30% on each side, as a PNG."""
    side = int(rng.integers(SCAN_SIDE[0], SCAN_SIDE[1] + 1))
    resample = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR
    image = Image.fromarray(np.round(255 * (1 - small)).astype(np.uint8)).resize((side, side), resample)
    if rng.random() < 0.5:
        margins = (side * rng.uniform(0.0, 0.3, 4)).astype(int)
        canvas = Image.new("L", (side + margins[0] + margins[1], side + margins[2] + margins[3]), 255)
        canvas.paste(image, (int(margins[0]), int(margins[2])))
        image = canvas
    return encode_png(image)


def thick_pen(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """A felt-tip redraw: the digit's core grown to a stroke 1/6 to 1/3 of its height, in black or a dark
    colour on white, filling the image but a margin of 2 to 12% of its height, PNG or JPEG."""
    scale = 6
    enlarged = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC))
    core = enlarged > 0.75 * 255
    rows = np.flatnonzero(core.any(axis=1))
    height = rows[-1] - rows[0] + 1
    grow = max(0, round((rng.uniform(1 / 6, 1 / 3) * height - stroke_width(core)) / 2))
    pad = grow + 2
    mask = _grown(np.pad(core, pad), grow)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    margin = round((rows[-1] - rows[0]) * rng.uniform(0.02, 0.12))
    mask = np.pad(mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], margin)
    colour = np.array([[0.05, 0.05, 0.05], [0.1, 0.15, 0.45], [0.1, 0.3, 0.15]])[
        rng.choice(3, p=[0.6, 0.25, 0.15])
    ]
    pixels = np.where(mask[..., None], colour + rng.uniform(-0.04, 0.04, 3), 1.0)
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    long_side = int(rng.integers(80, 501))
    factor = long_side / max(image.size)
    image = image.resize(
        (max(1, round(image.width * factor)), max(1, round(image.height * factor))), Image.Resampling.LANCZOS
    )
    if rng.random() < 0.4:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(60, 95)))
        return buffer.getvalue()
    return encode_png(image)


def pencil(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """Graphite: strokes 0.25 to 0.6 dark with a grain, on plain paper, scanned or photographed."""
    darkness = rng.uniform(0.25, 0.6)
    lead = np.full(3, 1.0 - darkness, np.float32) + rng.uniform(-0.02, 0.02, 3).astype(np.float32)
    return _written(digit, rng, "plain", lead, (0.3, 0.6), scan=rng.random() < 0.5, thin=False, graphite=True)


def blue_pen(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """A blue ballpoint on plain paper, photographed."""
    return _written(digit, rng, "plain", _ballpoint(rng, blue=True), BALLPOINT, scan=False)


def black_pen(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """A black ballpoint on plain paper, photographed."""
    return _written(digit, rng, "plain", _ballpoint(rng, blue=False), BALLPOINT, scan=False)


def squared_paper(
    digit: np.ndarray, label: int, rng: np.random.Generator, frame: tuple[int, int] | None = None
) -> bytes:
    """A ballpoint digit across a notebook's squares, photographed under uneven light in a 480x640 frame
    (or the (width, height) `frame`, the digit's size in proportion)."""
    pen = _ballpoint(rng, blue=rng.random() < 0.5)
    return _written(digit, rng, "squared", pen, BALLPOINT, scan=False, frame=frame)


def ruled_paper(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """A ballpoint digit on ruled paper (a red margin line on half of it), photographed under uneven light."""
    return _written(digit, rng, "ruled", _ballpoint(rng, blue=rng.random() < 0.5), BALLPOINT, scan=False)


def boxed(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """A ballpoint digit in a form's printed box (or a table's cell), scanned."""
    return _written(digit, rng, "boxed", _ballpoint(rng, blue=rng.random() < 0.5), BALLPOINT, scan=True)


def european(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """A 1 with a flag or a 7 with a crossbar (europeanised), clean (photos.py's reference upload) or in
    ballpoint on paper."""
    written = europeanised(digit, label, rng)
    if rng.random() < 0.5:
        return render_clean(written, label, rng).data
    return blue_pen(written, label, rng) if rng.random() < 0.5 else black_pen(written, label, rng)


def europeanised(digit: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
    """A 1 with the flag continental writers give it (a short stroke down-left from the top of the stem),
    or a 7 with a bar across its stem at mid-height, drawn in the digit's own stroke width."""
    if label not in EUROPEAN_LABELS:
        raise ValueError(f"only 1s and 7s are written the European way, not {label}s")
    mask = digit > 127
    rows = np.flatnonzero(mask.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1
    if label == 1:
        x = float(np.flatnonzero(mask[top : top + 2].any(axis=0)).mean())
        length, angle = height * rng.uniform(0.25, 0.45), np.deg2rad(rng.uniform(25, 55))
        start, end = (x, top + 0.5), (x - length * np.cos(angle), top + 0.5 + length * np.sin(angle))
    else:
        middle = round(top + height * rng.uniform(0.45, 0.6))
        x = float(np.flatnonzero(mask[middle - 1 : middle + 2].any(axis=0)).mean())
        half, rise = height * rng.uniform(0.18, 0.3), height * rng.uniform(-0.06, 0.06)
        start, end = (x - half, middle + rise), (x + half, middle - rise)
    return np.maximum(digit, _stroke(start, end, stroke_width(mask)))


def european_versions(images: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """A copy of `images` with each 1 and 7 written the European way (europeanised, each from its own
    generator: render_set), the other digits as they are: the classifier's European 1s and 7s."""
    written = images.copy()
    indices = np.flatnonzero(np.isin(labels, EUROPEAN_LABELS))
    if len(indices):
        written[indices] = render_set(europeanised, EUROPEAN, images, labels, indices, seed)
    return written


KINDS: dict[str, Renderer] = {
    "low resolution": low_resolution,
    "thick pen": thick_pen,
    "pencil": pencil,
    "blue pen": blue_pen,
    "black pen": black_pen,
    "squared paper": squared_paper,
    "ruled paper": ruled_paper,
    "boxed": boxed,
    EUROPEAN: european,
}


def eligible(kind: str, labels: np.ndarray) -> np.ndarray:
    """Which digits a kind can be made of: 1s and 7s for the European kind, every digit for the others."""
    return np.isin(labels, EUROPEAN_LABELS) if kind == EUROPEAN else np.ones(len(labels), dtype=bool)


def any_upload(digit: np.ndarray, label: int, rng: np.random.Generator) -> bytes:
    """The digit as one of the ways a real digit arrives, chosen at random: MNIST's own file, another size
    or stroke, the page's pad, a phone photo (training/ood_data.py, photos.py) or a kind of KINDS."""
    ways: list[Renderer] = [
        lambda d, _, r: ood_data.digit_png(d),
        lambda d, _, r: ood_data.resized_digit(d, r),
        lambda d, _, r: ood_data.pad_drawing(d, r),
        lambda d, n, r: render_photo(d, n, "plain", r).data,
        *(render for kind, render in KINDS.items() if kind != EUROPEAN),
    ]
    return ways[int(rng.integers(len(ways)))](digit, label, rng)


def render_set(
    render: Callable[[np.ndarray, int, np.random.Generator], T],
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    indices: Sequence[int],
    seed: int,
) -> list[T]:
    """The digits at `indices` rendered (as upload files, or as images), each from its own generator
    photo_rng(seed, name, index): a rendering depends on its digit's index, not on which others are
    rendered with it."""
    return [render(images[i], int(labels[i]), photo_rng(seed, name, int(i))) for i in indices]


def from_labelled(images: np.ndarray, labels: np.ndarray, render: Renderer) -> ood_data.Kind:
    """A kind (training/ood_data.py) drawing its uploads from the given digits in order, each rendered with
    its label."""
    pairs: Iterator[tuple[np.ndarray, int]] = zip(images, (int(label) for label in labels), strict=True)

    def draw(rng: np.random.Generator) -> bytes:
        image, label = next(pairs)
        return render(image, label, rng)

    return draw


def stroke_width(mask: np.ndarray) -> float:
    """The median length of a mask's horizontal and vertical runs: most of them cross a stroke."""
    lengths = [_run_lengths(mask), _run_lengths(mask.T)]
    return float(np.median(np.concatenate(lengths)))


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    return np.flatnonzero(edges.ravel() == -1) - np.flatnonzero(edges.ravel() == 1)


def _grown(mask: np.ndarray, steps: int) -> np.ndarray:
    """The mask dilated `steps` times, by a square and a cross in turn: a round-ish felt tip."""
    for step in range(steps):
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        if step % 2:
            grown[1:, 1:] |= mask[:-1, :-1]
            grown[1:, :-1] |= mask[:-1, 1:]
            grown[:-1, 1:] |= mask[1:, :-1]
            grown[:-1, :-1] |= mask[1:, 1:]
        mask = grown
    return mask


def _stroke(start: tuple[float, float], end: tuple[float, float], width: float) -> np.ndarray:
    """A 28x28 stroke (uint8, 255 full) from `start` to `end` (x, y) with round ends, drawn at 4x and
    reduced, so that its edges are grey as MNIST's are."""
    scale = 4
    canvas = Image.new("L", (28 * scale, 28 * scale), 0)
    draw = ImageDraw.Draw(canvas)
    points = [(scale * (x + 0.5), scale * (y + 0.5)) for x, y in (start, end)]
    radius = max(scale * width, scale) / 2
    draw.line(points, fill=255, width=round(2 * radius))
    for x, y in points:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(canvas.reduce(scale))


def _ballpoint(rng: np.random.Generator, blue: bool) -> np.ndarray:
    """A ballpoint's ink as reflectance: a mid to dark blue, or a near black."""
    if blue:
        return np.array([rng.uniform(0.1, 0.3), rng.uniform(0.15, 0.35), rng.uniform(0.5, 0.75)], np.float32)
    return (rng.uniform(0.05, 0.2) + rng.uniform(0.0, 0.05, 3)).astype(np.float32)


def _written(
    digit: np.ndarray,
    rng: np.random.Generator,
    sheet: str,
    pen: np.ndarray,
    thresholds: tuple[float, float],
    *,
    scan: bool,
    thin: bool = True,
    graphite: bool = False,
    frame: tuple[int, int] | None = None,
) -> bytes:
    """The digit written with `pen` (a ballpoint's thin line, unless not `thin`; graphite's grain) on a
    `sheet` of training/paper.py and photographed (in a portrait or landscape photos.FRAME, or `frame`) or
    scanned (a frame 1.3 to 2.5 times the digit's tile)."""
    if scan:
        digit_height = rng.uniform(40, 160)
        side = round(28 * digit_height / 20)
        size = (side * rng.uniform(1.3, 2.5, 2)).astype(int)
        shape, heights = (int(size[0]), int(size[1])), (digit_height, digit_height)
    else:
        width, height = frame or (FRAME if rng.random() < 0.5 else FRAME[::-1])
        shape, heights = (height, width), tuple(h * max(width, height) / max(FRAME) for h in DIGIT_HEIGHT)
    ink, top, left = place(digit, rng, shape, heights, in_corner=False, thresholds=thresholds)
    if thin:
        ink = _thinned(ink, rng)
    if graphite:
        ink = ink * (1 - rng.uniform(0.2, 0.5) * _grain(rng, ink.shape))
    rows, cols = np.flatnonzero((ink > 0.3).any(axis=1)), np.flatnonzero((ink > 0.3).any(axis=0))
    box = (top + rows[0], left + cols[0], top + rows[-1] + 1, left + cols[-1] + 1)
    page = paper.sheet(sheet, rng, shape, float(rows[-1] - rows[0] + 1), box, max_tilt=1.5 if scan else 4.0)
    paper.write(page, ink, top, left, pen, rng.uniform(0.8, 0.97), rng)
    if scan:
        return paper.scanned(page, rng)
    centre = (top + ink.shape[0] / 2, left + ink.shape[1] / 2)
    lights = paper.LIGHTS if sheet == "plain" else paper.UNEVEN_LIGHTS
    return paper.photographed(page, rng, str(rng.choice(lights)), centre)


def _thinned(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A ballpoint's line: the enlarged stroke worn down (3x3 minimum filters) to 45 to 80% of its width,
    and to at least 2 pixels; MNIST's strokes are a felt pen's, about 1/7 of the digit's height."""
    width = stroke_width(ink > 0.5)
    image = Image.fromarray((ink * 255 + 0.5).astype(np.uint8))
    for _ in range(int((width - max(2.0, width * rng.uniform(0.45, 0.8))) // 2)):
        image = image.filter(ImageFilter.MinFilter(3))
    return np.asarray(image, np.float32) / 255


def _grain(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Graphite's grain: pixel noise, slightly blurred, 0 to 1."""
    noise = Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))
    grain = np.asarray(noise, np.float32)
    return (grain - grain.min()) / max(float(np.ptp(grain)), 1.0)


def encode_png(image: Image.Image) -> bytes:
    """The image as a PNG file."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
