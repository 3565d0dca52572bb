"""MNIST-style preprocessing of an uploaded image: any size, format or polarity -> one (1, 1, 28, 28) tensor.

The steps follow how MNIST itself was made (LeCun et al.): the digit is cropped to its ink, fitted into a
20x20 box keeping its aspect ratio (with anti-aliasing), and placed in the 28x28 field so that its centre of
mass lies at the centre. Before that, an upload is made to look like MNIST's ink: EXIF orientation applied,
the first frame of an animation taken, transparency flattened, grayscale, and the polarity detected so that
the ink is bright on a black background whichever way round it was written.

A phone photo of a digit on paper is unevenly lit (a gradient, a lamp's pool of light, a hand's shadow) and
grainy, and the digit may be small anywhere in the frame: no single threshold separates its ink from the
paper. So the ink is found as a fraction of the light the paper under it reflects. On a copy reduced to 256
pixels, a grey closing (a max then a min filter over a square wider than any stroke) removes the dark strokes
and leaves the paper with its light; the image divided by it is the ink's darkness, the same under any
light. A second closing, a few stroke widths wide, follows shadows the first filled in. The digit is then the
connected piece of dark strokes with the most ink and the pieces near it, grown into their soft edges
(hysteresis), so grain, specks and the edges of shadows are left out; where one paper value for the whole
page finds the same digit, as on a scan or a drawing, that value is used and the page is read as before.

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
# Stroke pixels this far up the darkness of the stroke pixels are full ink (the rest are scaled up to it).
SOLID_QUANTILE = 0.75
# The paper's light is estimated on a copy box-reduced to this long side (a few milliseconds): it varies
# slowly, and strokes keep a few pixels' width there.
BACKGROUND_SIZE = 256
# A grey closing removes dark strokes narrower than its square and leaves the paper, a gradient, a vignette
# or a shadow's edge included. The first is this fraction of the short side, wider than any stroke; the
# second is this many stroke widths, narrower than most shadows.
ELEMENT_FRACTION = 1 / 3
STROKE_ELEMENT = 2.5
MIN_ELEMENT = 9
# Stroke pixels are darker than STROKE_LEVEL of the darkest ink; pieces of strokes with KEEP_MASS of the main
# piece's ink and within KEEP_DISTANCE times its size of it are the digit. The stroke width is measured on
# what is darker than CORE_LEVEL (a shadow the first closing filled in is not).
STROKE_LEVEL = 0.5
CORE_LEVEL = 0.65
KEEP_MASS = 0.05
KEEP_DISTANCE = 0.5
# On a page lit evenly enough, one paper value finds a digit at most this much larger than the paper the
# second closing follows.
EVEN_EXTENT = 1.25


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
    """Ink as bright values on 0, whichever polarity the page had and however unevenly it was lit; only the
    digit's strokes with their soft edges, not grain, specks, shadows or the darker side of the page."""
    reduced, factor = _reduced_array(gray, BACKGROUND_SIZE)
    small = _box3(reduced)  # a closing follows the grain's peaks, not the paper under them
    size = max(MIN_ELEMENT, round(min(small.shape) * ELEMENT_FRACTION))
    closed, opened = _closing(small, size), 1.0 - _closing(1.0 - small, size)
    # The ink is the polarity that stands out more from the paper under it, at the darkest (brightest)
    # pixel, as a fraction of the light there (of the room above the paper, for bright ink): a dim corner of
    # a photo counts as much as a lit one.
    low = np.unravel_index(small.argmin(), small.shape)
    high = np.unravel_index(small.argmax(), small.shape)
    dark_ink = (closed[low] - small[low]) / max(float(closed[low]), 1 / 255)
    bright_ink = (small[high] - opened[high]) / max(1.0 - float(opened[high]), 1 / 255)
    if dark_ink <= bright_ink:
        gray, reduced, small, closed = 1.0 - gray, 1.0 - reduced, 1.0 - small, 1.0 - opened
    if float((closed - small).max()) < MIN_CONTRAST:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    # Ink takes a fraction of the light the paper under it reflects, whatever that light is: divided by the
    # paper, it is found anywhere. The first closing fills in shadows narrower than itself too; one a few
    # stroke widths wide follows all but the narrowest.
    darkness = _darkness(small, closed)
    core = _digit_core(darkness > CORE_LEVEL * darkness.max(), darkness)
    fitted = max(MIN_ELEMENT, round(STROKE_ELEMENT * _stroke_width(core)))
    paper = _closing(small, fitted) if fitted < size else closed
    region = _digit_region(_darkness(small, paper))
    # A closing also takes a blurred digit's soft edges for paper. Where the page's median, as the paper
    # everywhere, finds the same digit (no shadow or darker side of the page joins it), the light is even
    # enough, and the page is read exactly as MNIST was made.
    median = float(np.median(reduced))
    even_region = _digit_region(_darkness(small, median))
    if _extent(even_region) <= EVEN_EXTENT * _extent(region):
        paper, region = median, even_region
    # Back at full size, in the box around the digit (a pixel of the reduced copy is a factor x factor block).
    region = _dilated(region, 1)
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    top, bottom = rows[0] * factor, min((rows[-1] + 1) * factor, gray.shape[0])
    left, right = cols[0] * factor, min((cols[-1] + 1) * factor, gray.shape[1])
    inside = region[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].repeat(factor, 0).repeat(factor, 1)
    if isinstance(paper, np.ndarray):
        box = (left / factor, top / factor, right / factor, bottom / factor)
        paper = np.asarray(
            Image.fromarray(paper).resize((right - left, bottom - top), Image.Resampling.BILINEAR, box=box)
        )
    darkness = np.where(
        inside[: bottom - top, : right - left], _darkness(gray[top:bottom, left:right], paper), 0
    )
    darkest = float(darkness.max())
    if darkest <= 0:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    floor = NOISE_FLOOR * darkest
    solid = _stroke_level(darkness, darkest)
    ink = np.zeros_like(gray)
    ink[top:bottom, left:right] = np.clip((darkness - floor) / (solid - floor), 0.0, 1.0)
    return ink


def _stroke_level(darkness: np.ndarray, darkest: float) -> float:
    """How dark the strokes' cores are: full ink from there on. MNIST's strokes are solid white at their core;
    a lens or a soft pencil leaves only a few pixels as dark as the darkest, and the rest of the stroke grey,
    which the models (and is_digit) would read as a faint, unusual digit."""
    strong = darkness[darkness > STROKE_LEVEL * darkest]
    return max(float(np.quantile(strong, SOLID_QUANTILE)), STROKE_LEVEL * darkest + 1e-6)


def _darkness(gray: np.ndarray, paper: np.ndarray | float) -> np.ndarray:
    """1 - reflectance: 0 on the paper, near 1 on black ink."""
    return np.clip(1.0 - gray / np.maximum(paper, 1 / 255), 0.0, 1.0)


def _reduced_array(gray: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """`gray` box-reduced by a whole factor to a long side of at most `size`, and the factor."""
    factor = max(1, math.ceil(max(gray.shape) / size))
    if factor == 1:
        return gray, 1
    return np.asarray(Image.fromarray(gray).reduce(factor), dtype=np.float32), factor


def _box3(a: np.ndarray) -> np.ndarray:
    """The mean of each pixel's 3x3 neighbourhood, the edges repeated."""
    rows = np.concatenate([a[:1], a, a[-1:]])
    rows = rows[:-2] + rows[1:-1] + rows[2:]
    cols = np.concatenate([rows[:, :1], rows, rows[:, -1:]], axis=1)
    return (cols[:, :-2] + cols[:, 1:-1] + cols[:, 2:]) / 9


def _sliding_max(a: np.ndarray, size: int) -> np.ndarray:
    """The maximum over a centred window of `size` rows, windows cut off at the edges; by doubling,
    log2(size) numpy passes."""
    before = size // 2
    m = np.full((len(a) + size - 1, a.shape[1]), -np.inf, dtype=a.dtype)
    m[before : before + len(a)] = a
    width = 1
    while 2 * width <= size:
        m = np.maximum(m[:-width], m[width:])
        width *= 2
    return np.maximum(m[: len(a)], m[size - width : size - width + len(a)])


def _dilation(a: np.ndarray, size: int) -> np.ndarray:
    """The maximum over a size x size square around each pixel."""
    return _sliding_max(_sliding_max(a, size).T, size).T


def _closing(a: np.ndarray, size: int) -> np.ndarray:
    """Grey closing with a size x size square: dark structures narrower than it are filled in. The image is
    extended by its edge values first, else light falling off towards an edge is overestimated there."""
    margin = size // 2
    padded = np.pad(a, margin, mode="edge")
    closed = -_dilation(-_dilation(padded, size), size)
    return closed[margin : margin + a.shape[0], margin : margin + a.shape[1]]


def _dilated(mask: np.ndarray, radius: int) -> np.ndarray:
    return _dilation(mask.astype(np.float32), 2 * radius + 1) > 0


def _extent(mask: np.ndarray) -> int:
    """The longer side of the box around the mask's pixels."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0])) + 1


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The row, first column and end column (exclusive) of every horizontal run of True, row by row."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    rows, columns = np.nonzero(padded[:, 1:] != padded[:, :-1])  # in a row: a start, then its end
    return rows[::2], columns[::2], columns[1::2]


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 8-connected components of `mask` as its runs and the component of each. Union-find over runs: a
    digit's mask has a few hundred, so a Python loop over them costs a fraction of a millisecond."""
    rows, starts, ends = _runs(mask)
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = np.searchsorted(rows, np.arange(mask.shape[0] + 1)).tolist()
    start_list, end_list = starts.tolist(), ends.tolist()
    for r in np.unique(rows).tolist():
        i, j = first[r - 1] if r else 0, first[r]
        while i < first[r] and j < first[r + 1]:
            if start_list[j] <= end_list[i] and start_list[i] <= end_list[j]:  # touching, diagonals too
                parent[root(j)] = root(i)
            if end_list[i] < end_list[j]:
                i += 1
            else:
                j += 1
    labels = np.array([root(i) for i in range(len(rows))], dtype=np.int64)
    return rows, starts, ends, labels


def _run_sums(a: np.ndarray, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    cumulative = np.pad(np.cumsum(a, axis=1, dtype=np.float64), ((0, 0), (1, 0)))
    return cumulative[rows, ends] - cumulative[rows, starts]


def _painted(shape: tuple[int, int], runs: tuple[np.ndarray, ...], kept: np.ndarray) -> np.ndarray:
    """A mask of the runs whose component is `kept`."""
    rows, starts, ends, labels = runs
    mask = np.zeros(shape, dtype=bool)
    for r, s, e in zip(*(part[kept[labels]].tolist() for part in (rows, starts, ends)), strict=True):
        mask[r, s:e] = True
    return mask


def _stroke_width(mask: np.ndarray) -> float:
    """The median length of the mask's horizontal and vertical runs: most of them cross a stroke."""
    lengths = [ends - starts for _, starts, ends in (_runs(mask), _runs(mask.T))]
    return float(np.median(np.concatenate(lengths)))


def _digit_region(darkness: np.ndarray) -> np.ndarray:
    """The digit's strokes and their soft edges: hysteresis between STROKE_LEVEL and NOISE_FLOOR."""
    contrast = float(darkness.max())
    if contrast <= 0:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    core = _digit_core(darkness > STROKE_LEVEL * contrast, darkness)
    runs = _components(core | (darkness > NOISE_FLOOR * contrast))
    touches = np.bincount(runs[3], _run_sums(core, *runs[:3]), minlength=len(runs[0])) > 0
    return _painted(core.shape, runs, touches)


def _digit_core(strokes: np.ndarray, darkness: np.ndarray) -> np.ndarray:
    """The 8-connected piece of `strokes` with the most ink, and those near it with a fair share of its ink:
    grain, specks, the edges of shadows and distant marks are left out."""
    runs = _components(strokes)
    rows, starts, ends, labels = runs
    n = len(rows)
    mass = np.bincount(labels, _run_sums(darkness, rows, starts, ends), minlength=n)
    top, bottom = np.full(n, np.inf), np.full(n, -np.inf)
    left, right = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(top, labels, rows)
    np.maximum.at(bottom, labels, rows + 1)
    np.minimum.at(left, labels, starts)
    np.maximum.at(right, labels, ends)
    main = int(mass.argmax())
    reach = KEEP_DISTANCE * max(bottom[main] - top[main], right[main] - left[main])
    gap = np.maximum.reduce([top - bottom[main], top[main] - bottom, left - right[main], left[main] - right])
    return _painted(strokes.shape, runs, (mass >= KEEP_MASS * mass[main]) & (gap <= reach))


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
