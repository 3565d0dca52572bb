"""MNIST-style preprocessing of an uploaded image: any size, format or polarity -> one (1, 1, 28, 28) tensor.

The steps follow how MNIST itself was made (LeCun et al.): the digit is cropped to its ink, fitted into a
20x20 box keeping its aspect ratio (with anti-aliasing), and placed in the 28x28 field so that its centre of
mass lies at the centre. Before that, an upload is made to look like MNIST's ink: EXIF orientation applied,
the first frame of an animation taken, transparency flattened, grayscale, and the polarity detected so that
the ink is bright on a black background whichever way round it was written. A low-resolution scan blown up
by repeating its pixels (a grid of flat blocks) or bilinearly (slopes that bend only at its pixels' centres)
is read as if it had been enlarged bicubically.

A phone photo of a digit on paper is unevenly lit (a gradient, a lamp's pool of light, a hand's shadow) and
grainy, and the digit may be small anywhere in the frame: no single threshold separates its ink from the
paper. So the ink is found as a fraction of the light the paper under it reflects. On a copy reduced to 256
pixels, a grey closing (a max then a min filter over a square wider than any stroke) removes the dark strokes
and leaves the paper with its light; the image divided by it is the ink's darkness, the same under any light.
A second closing, a few widths of the widest stroke wide, follows shadows the first filled in; under the
strokes' cores the first is kept, so a felt-tip's wide stroke stays solid instead of an outline. Printed lines
(squared or ruled paper, a margin, a box or a table's border) are long thin straight runs that go on past the
digit at both ends (or off the page) or lie apart from it, and do not end in its strokes (a thin 2's foot
does): they are found by directional openings of the reduced image, sheared by a few degrees, each direction's
runs pieces of their own, and left out; so is a printed box too small for those runs, a closed outline whose
four sides are straight. The digit is then the connected piece of dark strokes with the most ink and the
pieces near it, grown into their soft edges (hysteresis), so grain, specks, lines and the edges of shadows are
left out; where one paper value for the whole page finds the same digit, as on a scan or a drawing, that value
is used and the page is read as before.
A felt-tip's stroke can be wider than the first closing, even than the paper left around it in a tight crop:
on a clean page (a scan, a drawing, a smoothly lit photo: a quadratic surface fits its paper) with strokes
that wide and none at the image's edge, that surface is the paper. The morphology, distance transform and
connected components are scipy.ndimage's. What was left out that the uploader should know of (printed lines,
other digit-sized marks) comes back as notes (prepare_upload).

Every way an upload can fail raises a subclass of UploadError; this module knows nothing of HTTP, the service
maps each class to a status code.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from model.limits import DEFAULT_MAX_PIXELS

IMAGE_SIZE = 28
BOX_SIZE = 20
# MNIST's mean centre of mass, in pixel indices of the 28x28 field, is (14.0, 14.0) on the fixed test split.
CENTRE = 14.0
# The formats a browser, phone or scanner produces; Pillow's other readers (EPS runs Ghostscript, for one)
# are not offered to untrusted uploads. JPEG includes MPO, which many cameras write.
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
# Images are box-reduced to this long side first: a digit needs a few dozen pixels, not twelve million.
WORKING_SIZE = 1024
# An image enlarged from a few pixels by repeating each (nearest neighbour: a low-resolution scan blown up)
# is a grid of flat blocks: rows (and columns) change only at the blocks' edges, each at least MIN_BLOCK
# pixels after the last, by more than BLOCK_STEP; at least BLOCK_EDGES such edges both ways. Its blocks are
# square: where both ways tell a size, they differ by a factor of at most BLOCK_SQUARE (a serif H or E, all
# straight strokes, has edges on a grid too, but of wide or tall blocks).
MIN_BLOCK = 3
BLOCK_STEP = 2 / 255
# A bilinear enlargement bends only at the pixels' centres, on the same terms as the blocks' edges: its second
# differences elsewhere are Pillow's rounding, up to 3 levels in 255 (it rounds after blending along rows,
# and again along columns).
BEND_STEP = 3.5 / 255
BLOCK_EDGES = 4
BLOCK_SQUARE = 1.1
# Bright ink's contrast is measured against at least this share of the room above its background.
BRIGHT_ROOM = 0.5
# Below this contrast at the darkest and brightest pixels, a photo's shadow may hold them, not the ink; a
# border above this share of the image's range is not dark paper, and on such a page bright ink must stand out
# LIT_PAGE times as much as dark ink.
FAINT_INK = 0.3
LIT_BORDER = 0.25
LIT_PAGE = 2.0
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
# second is this many times the widest stroke, narrower than most shadows.
ELEMENT_FRACTION = 1 / 3
THIN_FRACTION = 1 / 10
STROKE_ELEMENT = 2.5
MIN_ELEMENT = 9
# A square's sides do not reach into a round shadow's edge on the axes and leave slivers of it as paper there;
# the diamond's corners do. The closing is the darker of the two, the diamond's diagonals DIAMOND of the
# square's side: both still fill any stroke narrower than the square in every direction (the diamond's
# opposite sides are 1.06 sides of the square apart), so the first closing still takes no stroke for paper.
DIAMOND = 0.75
# The thin closing's strokes are only part of the first's wider ones (a felt-tip's, which the thin closing
# takes in part for paper) when the wider pieces holding them reach this share of their pixels beyond them.
WIDE_REST = 0.25
# Stroke pixels are darker than STROKE_LEVEL of the darkest ink; pieces of strokes with KEEP_MASS of the main
# piece's ink and within KEEP_DISTANCE times its size of it are the digit.
STROKE_LEVEL = 0.5
# Wide pieces this share of the strokes' darkness or paler, holding them, are shade (_shade); up to
# FAINT_SHADE if SHADE_BEYOND of their pixels lie beyond the strokes' box.
SHADE = 0.6
FAINT_SHADE = 0.75
SHADE_BEYOND = 0.6
KEEP_MASS = 0.05
KEEP_DISTANCE = 0.5
# A written number's digits are kept one after another while the next lies within this share of the
# largest piece's height of one kept, beside it (two digits' height apart: people space digits widely).
ROW_REACH = 2.0
# In a row, a piece with this share of the largest one's ink is kept (a "1" has far less ink than an "8"),
# and a stroke's core is this share of the strongest contrast: a number's digits are written with unequal
# pressure, and the one pressed least must not drop out of the row.
ROW_KEEP_MASS = 0.02
ROW_STROKE_LEVEL = 0.4
# A row or column of the image that faint ink spans this share of is a rule or a shadow's edge: no number's.
ACROSS = 0.9
# On a page lit evenly enough, one paper value finds the digit the second closing's paper finds: its size
# within this factor of that one's (larger: a shadow joined it; smaller: a speck darker than the rest); for a
# number, also in the same place (the boxes around both overlapping by SAME_PLACE of their union) with at
# most EVEN_AREA times its pixels (a soft edge adds a few; a band of shadow as long as the row, many).
EVEN_EXTENT = 1.25
# ... and it holds EVEN_HOLDS of the closings' digit's pixels (not a dark corner of the digit's size).
EVEN_HOLDS = 0.5
SAME_PLACE = 0.5
EVEN_AREA = 1.5
# A page is clean where a quadratic surface of light (fitted to every FIT_STEP-th row and column of the
# paper) is within CLEAN_SPREAD of the ink's contrast of all but CLEAN_SHARE of the paper: its grain well
# under NOISE_FLOOR. On a clean page, strokes WIDE_STROKE of the first closing wide or wider, which it may
# take for paper, are measured against that surface.
CLEAN_SPREAD = 0.05
CLEAN_SHARE = 0.97
WIDE_STROKE = 0.6
FIT_STEP = 3
# Printed lines are looked for in images of at least MIN_LINE_IMAGE pixels a side (a smaller one is the digit
# alone). They are pixels darker than LINE_LEVEL of the darkest on runs at least LINE_FRACTION of the image
# across (MIN_LINE pixels), whose core (darker than STROKE_LEVEL) is narrower than MAX_LINE_WIDTH (a scan's
# blurred rule is twice as wide at LINE_LEVEL), tilted by up to a few degrees (LINE_TILTS, each with
# LINE_SLACK pixels of play), where the ink runs along the line for LINE_RUN pixels (a stroke crossing it does
# not), and whose pieces, LINE_PIECE of the image long at least, go on past the digit at both ends or miss it
# by LINE_OVERHANG of its size. Within LINE_BRIDGE pixels of a kept stroke they stay: where a line crosses a
# stroke it would cut it, and a stroke written along a line (a 7's bar on a rule) is hard to tell from it.
MIN_LINE_IMAGE = 64
LINE_LEVEL = 0.08
LINE_FRACTION = 0.35
MIN_LINE = 16
MAX_LINE_WIDTH = 5
# ... and whose soft edges (darker than LINE_LEVEL) span less than this: a blurred digit's grey stroke, as
# from a low-resolution scan enlarged, has a thin core too.
MAX_SOFT_WIDTH = 16
# A closing this wide fills a printed line in, its soft edges included.
LINE_CLOSING = 7
LINE_TILTS = (-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0)
LINE_SLACK = 1
LINE_RUN = 9
LINE_OVERHANG = 0.1
LINE_PIECE = LINE_FRACTION / 2
LINE_BRIDGE = 2
# Pieces of one line that a digit broke: see _collinear.
COLLINEAR = 1.5
LINE_COVERED = 0.9
# A printed box is a piece at least MIN_FRAME pixels a side, FRAME_HOLE of it hole when filled, whose sides'
# edges are within FRAME_SLACK pixels of a straight line for FRAME_STRAIGHT of their length.
MIN_FRAME = 12
FRAME_HOLE = 0.5
FRAME_SLACK = 1.5
FRAME_STRAIGHT = 0.9
# A pen's stroke along a printed line is darker than LINE_INK times the line's core (its LINE_CORE
# percentile of darkness: the median is its soft edges').
LINE_INK = 1.6
LINE_CORE = 75
# A separate mark with this share of the digit's ink and this share of its height is a digit of its own.
MARK_MASS = 0.3
MARK_HEIGHT = 0.5


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


@dataclass(frozen=True)
class PreparedUpload:
    """An upload as the models read it, (1, 1, 28, 28) in [0, 1], and what preprocessing left out that the
    uploader should know of (printed lines removed, other digit-sized marks), in words."""

    x: Tensor
    notes: tuple[str, ...]


def prepare_upload(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedUpload:
    """The uploaded image as a white digit on black like MNIST, with the notes of its preprocessing."""
    image = open_image(data, max_pixels)
    notes: list[str] = []
    ink = ink_intensity(grayscale(image, notes), notes)
    x = torch.from_numpy(centre_in_field(fit_in_box(crop_to_ink(ink))))[None, None]
    return PreparedUpload(x, tuple(notes))


def preprocess_upload(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
    """The uploaded image as a (1, 1, 28, 28) float tensor in [0, 1], white digit on black, like MNIST."""
    return prepare_upload(data, max_pixels).x


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
        if image.format == "JPEG" and max(width, height) > 2 * WORKING_SIZE:
            # libjpeg decodes at 1/2, 1/4 or 1/8 scale for a fraction of the time: a 12-megapixel photo is
            # decoded straight to the working size's order instead of in full and then reduced.
            scale = WORKING_SIZE / max(width, height)
            image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))
        image.load()
        upright = ImageOps.exif_transpose(image)
    except Exception as e:  # the decoders raise OSError, SyntaxError, ValueError, EOFError, ... for bad data
        raise UndecodableImageError(f"cannot decode {image.format} image ({e})") from None
    return upright if upright is not None else image


def grayscale(image: Image.Image, notes: list[str] | None = None) -> np.ndarray:
    """(H, W) float32 in [0, 1], transparency flattened onto whichever of white or black the ink is not, and
    read as if enlarged bicubically where it was enlarged with nearest neighbour or bilinearly."""
    return smooth_blocks(_flattened(image), notes)


def _flattened(image: Image.Image) -> np.ndarray:
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


def smooth_blocks(gray: np.ndarray, notes: list[str] | None = None) -> np.ndarray:
    """The image as if enlarged bicubically when it was enlarged by repeating pixels (nearest neighbour) or by
    blending them along straight lines (bilinear): an 8x8 scan blown up with nearest neighbour reaches the
    28x28 field as a mosaic of squares, bilinearly as a web of creased facets, which the models read worse
    than the same scan enlarged bicubically (and is_digit flags far more often). Any other image is returned
    as it is."""
    order, how = 1, "by repeating them"
    grid = _pixel_grid(gray, order)
    if grid is None:
        order, how = 2, "bilinearly"
        grid = _pixel_grid(gray, order)
    if grid is None:
        return gray
    # Read at the nearest pixel in a flat block, linearly between two pixels on a bilinear slope: exact.
    centres = [np.arange(first, length, size) for (first, size), length in zip(grid, gray.shape, strict=True)]
    where = np.meshgrid(*centres, indexing="ij")
    native = ndimage.map_coordinates(gray, where, order=order - 1, mode="nearest")
    if notes is not None:
        notes.append(
            f"the image was enlarged from about {native.shape[1]}x{native.shape[0]} pixels {how}: it was "
            "read enlarged bicubically"
        )
    # Across the whole image: exactly where it came from when the image is all enlargement, as most are.
    smooth = Image.fromarray(native).resize(gray.shape[::-1], Image.Resampling.BICUBIC)
    return np.clip(np.asarray(smooth, dtype=np.float32), 0.0, 1.0)


def _pixel_grid(gray: np.ndarray, order: int) -> list[tuple[float, float]] | None:
    """Where the first centre of the pixels the image was enlarged from lies and how far apart they are, for
    its rows and its columns, if it was enlarged: with nearest neighbour (order 1) rows change only at the
    blocks' edges; bilinearly (order 2) they change in slope only at the pixels' centres. None for any other
    image."""
    rows = _block_edges(gray, 0, order)
    columns = _block_edges(gray, 1, order) if rows is not None else None
    if rows is None or columns is None:
        return None
    fitted = [_fitted(axis_edges, order) for axis_edges in (rows, columns)]
    known = [size for _, size in fitted if size is not None]
    if not known or max(known) > BLOCK_SQUARE * min(known):
        return None
    # A narrow digit (a 1) changes in too few columns to tell a size: the rows' size must fit them.
    fitted = [
        _fitted(axis_edges, order, known[0]) if size is None else (axis_edges, size)
        for axis_edges, size in fitted
    ]
    grid = []
    for axis_edges, size in fitted:
        if size is None:
            return None
        # A block's edge lies half a pixel before the first pixel that changed; a bend is a centre.
        on_grid = axis_edges - size * np.round((axis_edges - axis_edges[0]) / size)
        centre = float(on_grid.mean()) + (size / 2 - 0.5 if order == 1 else 0.0)
        grid.append((centre % size, size))
    return grid


def _block_edges(gray: np.ndarray, axis: int, order: int) -> np.ndarray | None:
    """Where the rows (axis 0) or columns (axis 1) change by more than BLOCK_STEP in their first difference
    (order 1) or BEND_STEP in their second; a change on two rows in a row is one, between them (a box
    reduction blurs a block's edge over two, a bend between two rows shows on both). None where three rows in
    a row change (a smooth image's strokes)."""
    step = BLOCK_STEP if order == 1 else BEND_STEP
    strength = np.abs(np.diff(gray, n=order, axis=axis)).max(axis=1 - axis)
    runs, count = ndimage.label(strength > step)
    if not count:
        return np.zeros(0)
    if np.bincount(runs)[1:].max() > 2:
        return None
    # A pair's position is its two rows' mean weighted by how much each changes: where between them the
    # edge, or the bend, lies. Plus one: a first difference's row j is the change into the image's row j + 1,
    # a second difference's row j is centred on row j + 1.
    centres = ndimage.center_of_mass(strength, runs, range(1, count + 1))
    return np.array([centre for (centre,) in centres]) + 1


def _fitted(edges: np.ndarray, order: int, size: float | None = None) -> tuple[np.ndarray, float | None]:
    """The edges on the grid and its block size (_block_size, or _fitting `size` where given). A bilinear
    enlargement pasted on a larger canvas also bends at its own border, half a block off the grid, so its
    outermost edges may be left out."""
    trims = [(0, 0)] if order == 1 else [(0, 0), (1, 0), (0, 1), (1, 1)]
    for first, last in trims:
        kept = edges[first : len(edges) - last]
        found = _block_size(kept) if size is None else _fitting(kept, size)
        if found is not None:
            return kept, found
    return edges, None


def _block_size(edges: np.ndarray) -> float | None:
    """How far apart the blocks' edges are, if there are BLOCK_EDGES of them, MIN_BLOCK or more apart, each
    a whole number of blocks after the one before (_fitting); None otherwise."""
    if len(edges) < BLOCK_EDGES:
        return None
    gaps = np.diff(edges)
    median = float(np.median(gaps))
    if median < MIN_BLOCK:
        return None
    size = _fitting(edges, float(edges[-1] - edges[0]) / float(np.maximum(np.round(gaps / median), 1).sum()))
    if size is None:
        return None
    # The least-squares slope of the edges against their blocks' count: every edge tells the size.
    blocks = np.concatenate([[0.0], np.cumsum(np.round(gaps / size))])
    return _fitting(edges, float(np.polyfit(blocks, edges, 1)[0]))


def _fitting(edges: np.ndarray, size: float) -> float | None:
    """`size`, if every edge is a whole number of blocks that size after the one before, within a pixel a
    block (a scale that is not a whole number makes blocks of two sizes); None otherwise."""
    gaps = np.diff(edges)
    blocks = np.round(gaps / size)
    if not len(edges) or size < MIN_BLOCK or np.any(blocks < 1):
        return None
    return size if np.all(np.abs(gaps - blocks * size) <= blocks) else None


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


def reduction_factor(image: Image.Image) -> int:
    """How many of the image's pixels a side one pixel of the working copy (grayscale) stands for."""
    return max(1, math.ceil(max(image.size) / WORKING_SIZE))


def _reduced(image: Image.Image) -> Image.Image:
    factor = reduction_factor(image)
    return image.reduce(factor) if factor > 1 else image


def ink_intensity(gray: np.ndarray, notes: list[str] | None = None, row: bool = False) -> np.ndarray:
    """Ink as bright values on 0, whichever polarity the page had and however unevenly it was lit; only the
    digit's strokes with their soft edges, not grain, specks, shadows, printed lines or the darker side of
    the page. With `row`, a written number's: every piece in reach of another kept one, not only of the
    largest. What was left out that a user would want to know of is appended to `notes`."""
    reduced, factor = _reduced_array(gray, BACKGROUND_SIZE)
    small = ndimage.uniform_filter(reduced, 3, mode="nearest")  # a closing follows grain's peaks, not paper
    size = max(MIN_ELEMENT, round(min(small.shape) * ELEMENT_FRACTION))
    # On a clean page a felt-tip's stroke may be wider than a closing can fill, even than the paper around
    # it: the page's one paper value is used instead, which keeps the stroke whole.
    clean = _wide_clean_page(small, size)
    if clean is not None:
        small = _oriented(small, clean)
        lines = _printed_lines(_darkness(small, _closing(small, size, round_shadows=True)), row)
        region = _digit_region(_darkness(small, clean.paper), lines, notes, row)
        return _ink_on(_oriented(gray, clean), factor, clean.paper, region, lines, notes)
    closed = _closing(small, size, round_shadows=True)
    if _ink_is_bright(small, closed, size):
        gray, reduced, small = 1.0 - gray, 1.0 - reduced, 1.0 - small
        closed = _closing(small, size, round_shadows=True)
    if float((closed - small).max()) < MIN_CONTRAST:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    # Ink takes a fraction of the light the paper under it reflects, whatever that light is: divided by the
    # paper, it is found anywhere. The first closing fills in shadows narrower than itself too; one a few
    # stroke widths wide (the strokes' median run, _strokes) follows all but the narrowest.
    darkness = _darkness(small, closed)
    lines = _printed_lines(darkness, row)
    core, width = _strokes(small, darkness, lines)
    fitted = max(MIN_ELEMENT, round(STROKE_ELEMENT * width))
    paper = _closing(small, fitted) if fitted < size else closed
    # Where a stroke is wider than that closing, it takes the stroke's inside for paper and leaves an
    # outline: under the strokes' cores the first closing's paper is kept.
    paper = np.where(core, closed, paper)
    region = _digit_region(_darkness(small, paper), lines, notes, row)
    # A closing also takes a blurred digit's soft edges for paper. Where one paper value everywhere (the
    # median of what is paper around the digit) finds the same digit (no shadow or darker side of the page
    # joins it), the light is even enough, and the page is read exactly as MNIST was made.
    around = ~ndimage.maximum_filter(region, 5)
    level = float(np.median(small[around])) if around.any() else float(np.median(reduced))
    even_region = _digit_region(_darkness(small, level), lines, row=row)
    holds = np.count_nonzero(even_region & region) >= EVEN_HOLDS * np.count_nonzero(region)
    even = holds and 1 / EVEN_EXTENT <= _extent(even_region) / _extent(region) <= EVEN_EXTENT
    if row:
        # A band of shadow across the page is as long as a number's row: it must also lie where the
        # closings' digits lie, with few more pixels. (For a lone digit this test flagged fewer garments.)
        even = even and _same_place(even_region, region) and even_region.sum() <= EVEN_AREA * region.sum()
    if even:
        paper, region = level, even_region
    return _ink_on(gray, factor, paper, region, lines, notes)


def _ink_on(
    gray: np.ndarray,
    factor: int,
    paper: np.ndarray | float,
    region: np.ndarray,
    lines: np.ndarray,
    notes: list[str] | None,
) -> np.ndarray:
    """The ink of the full-size image as a fraction of `paper`'s light, inside the digit's `region` of the
    copy reduced by `factor`."""
    if notes is not None and lines.any():
        notes.append("printed lines (ruled or squared paper, a box or a border) were removed")
    # Back at full size, in the box around the digit (a pixel of the reduced copy is a factor x factor block).
    region = ndimage.maximum_filter(region, 3)
    rows, cols = ndimage.find_objects(region.astype(np.int8))[0]
    top, bottom = rows.start * factor, min(rows.stop * factor, gray.shape[0])
    left, right = cols.start * factor, min(cols.stop * factor, gray.shape[1])
    inside = region[rows, cols].repeat(factor, 0).repeat(factor, 1)[: bottom - top, : right - left]
    if isinstance(paper, np.ndarray):
        box = (left / factor, top / factor, right / factor, bottom / factor)
        paper = np.asarray(
            Image.fromarray(paper).resize((right - left, bottom - top), Image.Resampling.BILINEAR, box=box)
        )
    darkness = np.where(inside, _darkness(gray[top:bottom, left:right], paper), 0)
    darkest = float(darkness.max())
    if darkest <= 0:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    floor = NOISE_FLOOR * darkest
    solid = _stroke_level(darkness, darkest)
    ink = np.zeros_like(gray)
    ink[top:bottom, left:right] = np.clip((darkness - floor) / (solid - floor), 0.0, 1.0)
    return ink


@dataclass(frozen=True)
class CleanPage:
    """A page whose paper is one smooth surface of light: whether its ink is brighter than the paper, and
    the paper's light with the ink made dark."""

    bright_ink: bool
    paper: np.ndarray


def _wide_clean_page(small: np.ndarray, size: int) -> CleanPage | None:
    """The page, if it is clean (a scan, a drawing, an evenly or smoothly lit photo) and its strokes are
    wide (_wide_and_inside): the paper is the side of halfway between the darkest and the lightest pixel
    that most of the image's border is on, a quadratic surface fits it, and all but CLEAN_SHARE of its
    pixels (a few pixels from the strokes' edges) lie within CLEAN_SPREAD of the ink's contrast of that
    surface."""
    low, high = float(small.min()), float(small.max())
    if high - low < MIN_CONTRAST:
        return None
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    bright_ink = bool(np.median(border) < (low + high) / 2)
    page = 1.0 - small if bright_ink else small
    if not _wide_and_inside(page < (low + high) / 2, size):  # most pages: a few milliseconds
        return None
    paper = np.full_like(page, (low + high) / 2)
    for _ in range(2):  # halfway to the ink, then halfway to the ink under the fitted light
        relative = page / np.maximum(paper, 1 / 255)
        side = ndimage.minimum_filter(relative, 5) > (1 + float(relative.min())) / 2
        if side.sum() < 6:
            return None
        paper = _quadratic_fit(page, side)
    relative = page / np.maximum(paper, 1 / 255)
    contrast = 1.0 - float(relative.min())
    if np.mean(np.abs(relative[side] - 1.0) <= CLEAN_SPREAD * contrast) < CLEAN_SHARE:
        return None
    if not _wide_and_inside(relative < 1.0 - STROKE_LEVEL * contrast, size):
        return None
    return CleanPage(bright_ink, paper)


def _quadratic_fit(a: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The least-squares quadratic surface through `a`'s values at `where` (every FIT_STEP-th row and
    column of it), over the whole image."""
    ys, xs = np.indices(a.shape, dtype=np.float32)
    ys, xs = ys / a.shape[0] - 0.5, xs / a.shape[1] - 0.5
    terms = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys])
    sampled = np.zeros_like(where)
    sampled[::FIT_STEP, ::FIT_STEP] = where[::FIT_STEP, ::FIT_STEP]
    if sampled.sum() < len(terms):
        sampled = where
    coefficients, *_ = np.linalg.lstsq(terms[:, sampled].T, a[sampled], rcond=None)
    return np.tensordot(coefficients.astype(np.float32), terms, axes=1)


def _ink_is_bright(small: np.ndarray, closed: np.ndarray, size: int) -> bool:
    """Whether the ink is brighter than its paper: the polarity that stands out more from the paper under
    it, at the darkest (brightest) pixel, as a fraction of the light there (of the room above the paper, for
    bright ink, but at least BRIGHT_ROOM of it: on white paper the room above is grain, not a page of white
    ink): a dim corner of a photo counts as much as a lit one. Thin dark lines are closed first where bright
    ink is measured: on squared paper or a form every window of the opening holds a line, and the paper
    would be "bright ink". Where neither stands out by FAINT_INK and the border is not the darkest of the
    image (a photo whose darkest pixel is in a shadow, not a page of dark paper), each is measured where it
    stands out most instead, and bright ink must stand out LIT_PAGE times as much: such a page is paper (under
    a vignette, the lit paper between a pencil's wide strokes stands out from the opening about as much as the
    strokes from the closing). Never bright on a page whose border is mostly its paper's light side (the paper
    inside a pencil 0's loop stands out from wide pale strokes as brightly as ink would)."""
    lit = 1.0 - _closing(1.0 - _closing(small, LINE_CLOSING), size)

    def contrasts(low: int, high: int) -> tuple[float, float]:
        dark_paper, bright_paper = float(closed.flat[low]), float(lit.flat[high])
        dark_ink = (dark_paper - float(small.flat[low])) / max(dark_paper, 1 / 255)
        return dark_ink, (float(small.flat[high]) - bright_paper) / max(1.0 - bright_paper, BRIGHT_ROOM)

    dark_ink, bright_ink = contrasts(int(small.argmin()), int(small.argmax()))
    low, high = float(small.min()), float(small.max())
    border = np.median(np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]]))
    if max(dark_ink, bright_ink) < FAINT_INK and border - low > LIT_BORDER * (high - low):
        dark_ink, bright_ink = contrasts(int((closed - small).argmax()), int((small - lit).argmax()))
        dark_ink *= LIT_PAGE
    return dark_ink <= bright_ink and border <= (low + high) / 2


def _wide_and_inside(strokes: np.ndarray, size: int) -> bool:
    """Whether the widest stroke (twice the largest distance from a stroke pixel to the paper) is
    WIDE_STROKE of the closing's `size` wide or wider, and no stroke touches the image's edge: a shadow or
    the dim side of a photo does, a drawing's margin keeps its strokes off it."""
    edges = strokes[0].any() or strokes[-1].any() or strokes[:, 0].any() or strokes[:, -1].any()
    if edges or not strokes.any():
        return False
    return 2 * float(ndimage.distance_transform_edt(strokes).max()) >= WIDE_STROKE * size


def _oriented(a: np.ndarray, page: CleanPage) -> np.ndarray:
    """The image with its ink dark."""
    return 1.0 - a if page.bright_ink else a


def _strokes(small: np.ndarray, darkness: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, float]:
    """The digit's strokes' cores and the width of the widest. The cores stand out from the first closing
    (`darkness`), but so do shadows, dark disks and the darker side of a page, which may hold more ink; a
    closing a tenth of the image wide takes those for paper. Its cores are the strokes unless they are only
    the thin parts of the first's wider strokes (a felt-tip's, most of which it takes for paper too)."""
    wide = _digit_core(darkness > STROKE_LEVEL * _strongest(darkness, lines), darkness, lines)
    thin_size = max(MIN_ELEMENT, round(min(small.shape) * THIN_FRACTION))
    thin_darkness = _darkness(small, _closing(small, thin_size))
    if thin_darkness.max() > 0:
        thin_level = STROKE_LEVEL * _strongest(thin_darkness, lines)
        thin = _digit_core(thin_darkness > thin_level, thin_darkness, lines)
        both = thin & wide
        labels, _ = _components(wide)
        holding = np.isin(labels, np.unique(labels[both]))
        # What of the wide pieces lies away from the thin strokes: the rest of a felt-tip's, or shade.
        rest = holding & ~ndimage.binary_dilation(thin, iterations=2)
        within = np.count_nonzero(both) >= 0.5 * np.count_nonzero(thin)
        part_of_wide = within and np.count_nonzero(rest) >= WIDE_REST * np.count_nonzero(holding)
        if not part_of_wide or _shade(holding, thin, rest, darkness):
            return thin, _stroke_width(thin)
    return wide, _stroke_width(wide)


def _shade(wide: np.ndarray, thin: np.ndarray, outside: np.ndarray, darkness: np.ndarray) -> bool:
    """Whether the wide pieces holding the thin strokes are a shade around them (a shadow's disk or band
    that the strokes lie in): `outside`, their pixels away from the thin strokes, are SHADE of the strokes'
    darkness or paler, or FAINT_SHADE where most of them lie beyond the strokes' box (a band of shadow across
    the page, as dark as a faint pen). A felt-tip's wide stroke is as dark as its thin parts; an enlarged
    low-resolution scan's grey blocks are darker than SHADE of its black ones, and lie mostly in their box
    (not always: docs/trust.md)."""
    if not outside.any():
        return False
    rows, cols = ndimage.find_objects(thin.astype(np.int8))[0]
    beyond = np.count_nonzero(wide) - np.count_nonzero(wide[rows, cols])
    shade = FAINT_SHADE if beyond >= SHADE_BEYOND * np.count_nonzero(wide) else SHADE
    return float(np.median(darkness[outside])) <= shade * float(np.median(darkness[thin]))


def _stroke_level(darkness: np.ndarray, darkest: float) -> float:
    """How dark the strokes' cores are: full ink from there on. MNIST's strokes are solid white at their core;
    a lens or a soft pencil leaves only a few pixels as dark as the darkest, and the rest of the stroke grey,
    which the models (and is_digit) would read as a faint, unusual digit."""
    strong = darkness[darkness > STROKE_LEVEL * darkest]
    return max(float(np.quantile(strong, SOLID_QUANTILE)), STROKE_LEVEL * darkest + 1e-6)


def _strongest(darkness: np.ndarray, lines: np.ndarray) -> float:
    """The darkest ink off the printed lines: a form's black box must not make a blue digit look faint."""
    off = darkness[~lines]
    return float(off.max()) if off.size and off.max() > 0 else float(darkness.max())


def _darkness(gray: np.ndarray, paper: np.ndarray | float) -> np.ndarray:
    """1 - reflectance: 0 on the paper, near 1 on black ink."""
    return np.clip(1.0 - gray / np.maximum(paper, 1 / 255), 0.0, 1.0)


def _reduced_array(gray: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """`gray` box-reduced by a whole factor to a long side of at most `size`, and the factor."""
    factor = max(1, math.ceil(max(gray.shape) / size))
    if factor == 1:
        return gray, 1
    return np.asarray(Image.fromarray(gray).reduce(factor), dtype=np.float32), factor


def _closing(a: np.ndarray, size: int, round_shadows: bool = False) -> np.ndarray:
    """Grey closing with a size x size square: dark structures narrower than it are filled in; with
    `round_shadows`, the darker of that and the closing by a diamond (DIAMOND), for an element as large as
    a shadow. The image is extended by its edge values for half the square first, else light falling off
    towards an edge is overestimated there; beyond that the windows are cut off (so ink at the edge is not
    extended forever)."""
    margin = size // 2
    padded = np.pad(a, margin, mode="edge")
    square = ndimage.minimum_filter(
        ndimage.maximum_filter(padded, size, mode="constant", cval=-np.inf),
        size,
        mode="constant",
        cval=np.inf,
    )
    closed = (
        np.minimum(square, _diamond_closing(padded, round(DIAMOND * size) | 1)) if round_shadows else square
    )
    return closed[margin : margin + a.shape[0], margin : margin + a.shape[1]]


def _diamond_closing(a: np.ndarray, length: int) -> np.ndarray:
    """Grey closing by a square turned by 45 degrees, the sum of two diagonals `length` pixels long (so
    2 x `length` across along the axes, and 1.4 x `length` between its opposite sides)."""
    for extreme, cval in ((ndimage.maximum_filter1d, -np.inf), (ndimage.minimum_filter1d, np.inf)):
        for anti in (False, True):
            a = _along_diagonal(extreme, a, length, cval, anti)
    return a


def _along_diagonal(
    filter1d: Callable[..., np.ndarray], a: np.ndarray, length: int, cval: float, anti: bool
) -> np.ndarray:
    """A 1-D filter along one diagonal: row i is shifted right by i pixels (each row padded by the height
    and the whole read back one pixel narrower), so that the diagonal becomes a column, and back."""
    if anti:
        return _along_diagonal(filter1d, a[::-1], length, cval, anti=False)[::-1]
    height, width = a.shape
    padded = np.full((height, width + height), cval, a.dtype)
    padded[:, :width] = a
    sheared = padded.ravel()[: height * (width + height - 1)].reshape(height, width + height - 1)
    filtered = filter1d(sheared, length, axis=0, mode="constant", cval=cval)
    back = np.concatenate([filtered.ravel(), np.full(height, cval, a.dtype)]).reshape(height, width + height)
    return back[:, :width]


def _extent(mask: np.ndarray) -> int:
    """The longer side of the box around the mask's pixels."""
    rows, cols = ndimage.find_objects(mask.astype(np.int8))[0]
    return max(rows.stop - rows.start, cols.stop - cols.start)


def _same_place(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the boxes around two masks' pixels overlap by SAME_PLACE of their union: not a shadow's edge
    of the digit's size elsewhere in the frame (a number's row is as wide as a vignette's corner is tall)."""
    (a_rows, a_cols), (b_rows, b_cols) = (ndimage.find_objects(m.astype(np.int8))[0] for m in (a, b))

    def area(rows: slice, cols: slice) -> int:
        return max(rows.stop - rows.start, 0) * max(cols.stop - cols.start, 0)

    both = area(
        slice(max(a_rows.start, b_rows.start), min(a_rows.stop, b_rows.stop)),
        slice(max(a_cols.start, b_cols.start), min(a_cols.stop, b_cols.stop)),
    )
    return both >= SAME_PLACE * (area(a_rows, a_cols) + area(b_rows, b_cols) - both)


def _stroke_width(mask: np.ndarray) -> float:
    """The median length of the mask's horizontal and vertical runs: most of them cross a stroke. (A stroke
    wider than the closing this sizes stays solid all the same: under the strokes' cores the first closing is
    the paper.)"""
    lengths = []
    for runs in (mask, mask.T):
        edges = np.diff(np.pad(runs, ((0, 0), (1, 1))).astype(np.int8), axis=1)
        lengths.append(np.flatnonzero(edges.ravel() == -1) - np.flatnonzero(edges.ravel() == 1))
    return float(np.median(np.concatenate(lengths))) if mask.any() else 1.0


def _printed_lines(darkness: np.ndarray, row: bool = False) -> np.ndarray:
    """Pixels of printed lines: the rules of squared or ruled paper, a margin, a box or a table's border.
    They are long, thin and straight (_straight_runs), and, unlike a digit's own straight strokes (a 1's
    stem, a 7's bar), they run on past the digit at both ends. With `row`, the digit is a written number:
    the span of its digit-sized pieces, so that one digit's stem is not a line apart from another digit.
    Each direction's runs are pieces of their own: a grid is its lines, not one piece as large as the page;
    the pieces of one line that the digit cuts in two are one line (_collinear)."""
    if min(darkness.shape) < MIN_LINE_IMAGE:  # an image this small is the digit alone, no page around it
        return np.zeros(darkness.shape, bool)
    darkest = float(darkness.max())
    faint = darkness > LINE_LEVEL * darkest
    runs = _straight_runs(faint, darkness > STROKE_LEVEL * darkest)
    frames = _frames(faint)
    candidates = runs[0] | runs[1] | frames
    strokes = (darkness > STROKE_LEVEL * _strongest(darkness, candidates)) & ~candidates
    if not candidates.any() or not strokes.any():
        return np.zeros_like(candidates)
    labels, _ = _components(strokes)
    mass = ndimage.sum_labels(darkness, labels, np.arange(1, labels.max() + 1))
    digit = ndimage.find_objects(labels)[int(np.argmax(mass))]
    if row:
        pieces = [
            found
            for found, heavy in zip(ndimage.find_objects(labels), mass >= KEEP_MASS * mass.max(), strict=True)
            if heavy
        ]
        digit = (
            slice(min(r.start for r, _ in pieces), max(r.stop for r, _ in pieces)),
            slice(min(c.start for _, c in pieces), max(c.stop for _, c in pieces)),
        )
    near_digit = None
    found = frames.copy()
    for axis, mask in enumerate(runs):  # across (along the columns), then down (along the rows)
        lines, count = _components(mask)
        # Each line (its pieces, _collinear) numbered from 1, and each piece's line.
        line_of = np.concatenate([[0], _collinear(lines, count, faint, axis) + 1])
        whole = line_of[lines]
        printed_line = np.zeros(line_of.max() + 1, bool)
        for line, box in enumerate(ndimage.find_objects(whole), start=1):
            along, digit_along, side = box[1 - axis], digit[1 - axis], darkness.shape[1 - axis]
            # Beside a number, a straight stroke is another digit (a 1's stem after the rest): in a row, only
            # a line apart along its own length (a rule above or below, a margin past its end) is left out so.
            apart = _apart(along, digit_along) or (not row and _apart(box[axis], digit[axis]))
            long = along.stop - along.start >= LINE_PIECE * side
            printed_line[line] = long and (apart or _beyond(along, digit_along, side))
            if printed_line[line] and _inside(*box, darkness.shape):
                # A line inside the image that ends in the digit (with its soft edges: a faint digit's
                # darkest piece may be a small part of it) is one of its strokes.
                if near_digit is None:
                    near = _digit_region(darkness, candidates) & ~candidates
                    near_digit = ndimage.maximum_filter(near, 2 * LINE_BRIDGE + 3)
                printed_line[line] = not _ends_at(whole[box] == line, near_digit[box], axis == 0)
        printed = printed_line[line_of]
        if not printed.any():
            continue
        # A pen's stroke that lies along a printed line joins its run; it is far darker than the print.
        printed_labels = np.flatnonzero(printed)
        level = np.zeros(count + 1)
        level[printed_labels] = LINE_INK * np.asarray(
            ndimage.labeled_comprehension(darkness, lines, printed_labels, _line_core, float, 0)
        )
        found |= printed[lines] & (darkness <= level[lines])
    return found


def _collinear(lines: np.ndarray, count: int, faint: np.ndarray, axis: int) -> np.ndarray:
    """The line each of `lines`' pieces (labels 1 to count, runs across for axis 0, down for axis 1) belongs
    to, numbered from 0: pieces of one straight line that something darker broke (a digit written across a
    rule splits it in two, each ending in the digit) are one line. Two pieces are one line where the line
    fitted to both passes within COLLINEAR pixels (root mean square) of their pixels and, between them,
    over faint ink for LINE_COVERED of the gap: a rule runs on under the digit, a digit's straight stroke in
    line with a rule elsewhere has paper between them."""
    if count < 2:
        return np.zeros(count, int)
    turned, ink = (lines, faint) if axis == 0 else (lines.T, faint.T)
    across, along = np.nonzero(turned)
    label = turned[across, along]
    sums = np.stack(
        [
            np.bincount(label, weights, minlength=count + 1)[1:]
            for weights in (None, along, across, along * along, along * across, across * across)
        ]
    ).astype(np.float64)
    starts = np.asarray(ndimage.minimum(along, label, np.arange(1, count + 1)))
    stops = np.asarray(ndimage.maximum(along, label, np.arange(1, count + 1))) + 1
    # The least-squares line through each pair's pixels (across = offset + slope x along), and its error.
    n, sa, sc, saa, sac, scc = sums[:, :, None] + sums[:, None, :]
    slope = (n * sac - sa * sc) / np.maximum(n * saa - sa * sa, 1e-9)
    offset = (sc - slope * sa) / n
    error = (scc - offset * sc - slope * sac) / n
    joined = (stops[:, None] <= starts[None, :]) & (error <= COLLINEAR**2)
    for first, second in zip(*np.nonzero(joined), strict=True):
        gap = np.arange(stops[first], starts[second])
        rows = np.round(offset[first, second] + slope[first, second] * gap).astype(int)
        near = [ink[np.clip(rows + step, 0, ink.shape[0] - 1), gap] for step in (-1, 0, 1)]
        joined[first, second] = not len(gap) or np.mean(np.logical_or.reduce(near)) >= LINE_COVERED
    return connected_components(joined, directed=False)[1]


def _frames(mask: np.ndarray) -> np.ndarray:
    """Pixels of printed boxes around a digit, however small: pieces of `mask` inside the image that are
    mostly hole once filled, whose four sides are straight (_straight_side: a written 0 is round), peeled
    from the outside in as deep as the piece's outline goes (a digit touching the box keeps its pixels
    deeper in)."""
    labels, _ = _components(mask)
    frames = np.zeros_like(mask)
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if min(s.stop - s.start for s in box) < MIN_FRAME or not _inside(*box, mask.shape):
            continue
        piece = labels[box] == label
        filled = ndimage.binary_fill_holes(piece)
        if np.count_nonzero(filled & ~piece) < FRAME_HOLE * np.count_nonzero(filled):
            continue
        if not all(_straight_side(np.rot90(filled, turns)) for turns in range(4)):
            continue
        depth = ndimage.distance_transform_cdt(np.pad(filled, 1), metric="chessboard")[1:-1, 1:-1]
        per_depth = np.bincount(depth[piece])
        thin = np.flatnonzero(per_depth[1:] < per_depth[1] / 2)
        frames[box] |= piece & (depth <= (thin[0] if len(thin) else len(per_depth)))
    return frames


def _straight_side(filled: np.ndarray) -> bool:
    """Whether the top side of a filled shape is straight (a printed box's, tilted a few degrees or not):
    the first filled row of nearly every column lies within a pixel or two of one straight line (fitted
    again to the columns nearest the first fit: a corner's column would tilt it)."""
    columns = np.flatnonzero(filled.any(axis=0))
    if len(columns) < MIN_FRAME:
        return False
    tops = filled[:, columns].argmax(axis=0)
    off = np.abs(tops - np.polyval(np.polyfit(columns, tops, 1), columns))
    near = off <= np.quantile(off, FRAME_STRAIGHT)
    off = np.abs(tops - np.polyval(np.polyfit(columns[near], tops[near], 1), columns))
    return bool(np.mean(off <= FRAME_SLACK) >= FRAME_STRAIGHT)


def _line_core(darkness: np.ndarray) -> float:
    return float(np.percentile(darkness, LINE_CORE))


def _beyond(line: slice, digit: slice, side: int) -> bool:
    """Whether a line's span runs past the digit's at both ends by LINE_OVERHANG of the digit's span, or
    off the image's edge where the digit stops short of it (a grid's line past a digit near the edge)."""
    margin = LINE_OVERHANG * (digit.stop - digit.start)
    before = line.start <= digit.start - margin or (line.start <= 1 and line.start < digit.start)
    after = line.stop >= digit.stop + margin or (line.stop >= side - 1 and line.stop > digit.stop)
    return before and after


def _inside(rows: slice, cols: slice, shape: tuple[int, ...]) -> bool:
    """Whether a box stays off the image's edges (by a pixel): a grid or a rule runs off the page."""
    return rows.start > 1 and cols.start > 1 and rows.stop < shape[0] - 1 and cols.stop < shape[1] - 1


def _ends_at(line: np.ndarray, digit: np.ndarray, across: bool) -> bool:
    """Whether either end of a line (a mask in its box) meets the digit: a digit's straight stroke that its
    pen drew thin (a 2's foot, a 7's bar) runs into the rest of the digit, a printed line crosses it."""
    if not across:
        line, digit = line.T, digit.T
    columns = np.flatnonzero(line.any(axis=0))
    ends = (columns <= columns[0] + LINE_BRIDGE) | (columns >= columns[-1] - LINE_BRIDGE)
    return bool((line[:, columns[ends]] & digit[:, columns[ends]]).any())


def _apart(line: slice, digit: slice) -> bool:
    """Whether a line's span misses the digit's by LINE_OVERHANG of the digit's span."""
    margin = LINE_OVERHANG * (digit.stop - digit.start)
    return line.start >= digit.stop + margin or line.stop <= digit.start - margin


def _straight_runs(mask: np.ndarray, solid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of `mask` on horizontal and on vertical straight runs at least LINE_FRACTION of the image
    across, within a few degrees (a photo of a page is seldom square to it), away from the thick parts of
    `solid` (MAX_LINE_WIDTH or wider, and their soft edges: a felt-tip's straight stroke). The mask is
    sheared by each of LINE_TILTS: a directional opening of it, widened across the run by LINE_SLACK pixels
    so that the tilts in between are found too, marks the band a line lies in, and within the band a pixel
    is the line's where the sheared mask itself runs along it for LINE_RUN pixels (a stroke crossing or
    passing near the line does not)."""
    thick = ndimage.binary_opening(solid, np.ones((MAX_LINE_WIDTH, MAX_LINE_WIDTH), bool))
    away = ~ndimage.binary_dilation(thick, np.ones((MAX_LINE_WIDTH, MAX_LINE_WIDTH), bool))
    found = []
    for turned, back in ((mask, lambda a: a), (mask.T, lambda a: a.T)):
        length = max(MIN_LINE, round(LINE_FRACTION * turned.shape[1]))
        widened = ndimage.maximum_filter1d(turned, 2 * LINE_SLACK + 1, axis=0)
        columns = np.arange(turned.shape[1])[None]
        runs = np.zeros_like(turned)
        for tilt in LINE_TILTS:
            shift = np.round(columns * math.tan(math.radians(tilt))).astype(int)
            rows = (np.arange(turned.shape[0])[:, None] + shift) % turned.shape[0]
            band = ndimage.minimum_filter1d(widened[rows, columns], length, axis=1)
            band = ndimage.maximum_filter1d(band, length, axis=1)
            runs[rows, columns] |= band & ndimage.grey_opening(turned[rows, columns], size=(1, LINE_RUN))
        found.append(back(runs & ~ndimage.grey_opening(runs, size=(MAX_SOFT_WIDTH, MAX_SOFT_WIDTH))) & away)
    return found[0], found[1]


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    return ndimage.label(mask, structure=np.ones((3, 3), bool))


def _digit_region(
    darkness: np.ndarray, lines: np.ndarray, notes: list[str] | None = None, row: bool = False
) -> np.ndarray:
    """The digit's strokes and their soft edges (a number's, with `row`): hysteresis between STROKE_LEVEL
    and NOISE_FLOOR, printed lines left out but where they cross the strokes."""
    contrast = _strongest(darkness, lines)
    if contrast <= 0:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    level = ROW_STROKE_LEVEL if row else STROKE_LEVEL
    core = _digit_core(darkness > level * contrast, darkness, lines, notes, row)
    # A line's soft edges are left out with it: the digit's soft edges must not grow along them.
    beside_lines = ndimage.binary_dilation(lines, np.ones((3, 3), bool))
    soft = (darkness > NOISE_FLOOR * contrast) & ~beside_lines
    if row:
        soft &= (soft.mean(axis=1) < ACROSS)[:, None] & (soft.mean(axis=0) < ACROSS)[None, :]
    labels, count = _components(soft | core)
    touched = np.zeros(count + 1, bool)
    touched[np.unique(labels[core])] = True
    touched[0] = False
    region = touched[labels]
    return region | (beside_lines & ndimage.maximum_filter(core, 2 * LINE_BRIDGE + 1))


def _digit_core(
    strokes: np.ndarray,
    darkness: np.ndarray,
    lines: np.ndarray,
    notes: list[str] | None = None,
    row: bool = False,
) -> np.ndarray:
    """The piece of `strokes` (printed lines left out; strokes joined by fainter ink are one piece) with the
    most ink, and those near it with a fair share of its ink: grain, specks, the edges of shadows and
    distant marks are left out. With `row`, those near any piece kept, one after another, within ROW_REACH
    of the largest's height: a number's digits side by side."""
    kept_strokes = strokes & ~lines
    if not kept_strokes.any():  # nothing but lines: a digit drawn with ruler-straight strokes
        kept_strokes = strokes
    # A piece is a stroke and every stroke joined to it by ink above the NOISE_FLOOR (hysteresis): a pen's
    # dark dot at the start of a fainter stroke does not outweigh the digit it starts.
    joined = (darkness > NOISE_FLOOR * _strongest(darkness, lines)) & ~ndimage.binary_dilation(lines)
    groups, _ = _components(joined | kept_strokes)
    pieces = np.where(kept_strokes, groups, 0)
    labels = (np.cumsum(np.bincount(pieces.ravel()) > 0) - 1)[pieces]  # numbered 1, 2, ...: unique's inverse
    count = int(labels.max())
    index = np.arange(1, count + 1)
    mass = ndimage.sum_labels(darkness, labels, index)
    boxes = np.array([(r.start, r.stop, c.start, c.stop) for r, c in ndimage.find_objects(labels)], float)
    top, bottom, left, right = boxes.T
    main = int(mass.argmax())
    height = bottom[main] - top[main]
    reach = KEEP_DISTANCE * max(height, right[main] - left[main])
    gap = np.maximum.reduce([top - bottom[main], top[main] - bottom, left - right[main], left[main] - right])
    kept = (mass >= KEEP_MASS * mass[main]) & (gap <= reach)
    if row:
        kept = _in_a_row(boxes, mass >= ROW_KEEP_MASS * mass[main], kept, ROW_REACH * height)
    if notes is not None:
        digit_sized = (mass >= MARK_MASS * mass[main]) & (bottom - top >= MARK_HEIGHT * height)
        marks = _side_by_side(left[digit_sized], right[digit_sized])
        if marks > 1:
            notes.append(
                f"{marks} separate digit-sized marks were found side by side: "
                + ("they were read as one digit" if kept[digit_sized].all() else "the largest was read")
            )
    return np.isin(labels, index[kept])


def _in_a_row(boxes: np.ndarray, heavy: np.ndarray, kept: np.ndarray, reach: float) -> np.ndarray:
    """`kept` grown, piece by piece, by the heavy pieces within `reach` of a kept one, sharing its rows."""
    top, bottom, left, right = boxes.T
    while True:
        near = np.zeros_like(kept)
        for i in np.flatnonzero(kept):
            beside = (left - right[i] <= reach) & (left[i] - right <= reach)
            near |= beside & (top < bottom[i]) & (top[i] < bottom)
        grown = kept | (near & heavy)
        if (grown == kept).all():
            return kept
        kept = grown


def _side_by_side(left: np.ndarray, right: np.ndarray) -> int:
    """How many marks stand side by side: their column spans merged where they overlap (the pieces of one
    broken stroke do; two digits written next to each other do not)."""
    order = np.argsort(left)
    marks, reach = 0, -np.inf
    for start, stop in zip(left[order], right[order], strict=True):
        if start >= reach:
            marks += 1
        reach = max(reach, stop)
    return marks


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
