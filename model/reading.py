"""Reading a written number: each digit of an upload found, left to right, in MNIST's form, with its box.

1. The number's ink, as a lone digit's is found (model/preprocess.py, on any paper and under any light),
   but keeping every digit-sized piece in a row, not only the largest and those near it.
2. Its 8-connected pieces of solid ink with their soft edges (fainter ink far from a stroke, such as a
   shadow's edge, joins none); specks (less than SPECK of the heaviest piece's ink) and streaks (less than
   STREAK of their width high) are left out.
3. Pieces whose column spans overlap by half the narrower one's width or more are one digit (a 4's or a 5's
   separate strokes, a broken stroke); the others stand side by side, one digit each, unless they touch.
4. A piece wider than TOUCHING times its height may be digits that touch or overlap: the columns where its
   ink is thinnest are the places it may be cut, and each way of cutting it into pieces of digit width is a
   candidate reading; a group of two or more digit-high pieces may also be a digit each (digits that
   overlap without touching). The classifier reads every candidate piece (one batch for the whole upload:
   the Lattice), and the cutting whose pieces it reads most surely is kept (the sum of the log of each
   piece's highest probability, so an uncut digit that reads well is not split into two halves that read
   less well), less CUT_COST per digit more or fewer than the group's width over a lone digit's, and less
   OOD_WEIGHT times the mean of its pieces' ood_score above 0 (model/ood.py: 0 is the median of held-out
   real digits), where the caller has one: the classifier reads two digits that touch as one surely
   enough, the outlier detector sees they are not one digit.

Pure numpy and PyTorch: the caller brings the classifier, run directly (`read_number`) or through the
service's batchers (app/routes/reading.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from model.limits import DEFAULT_MAX_PIXELS
from model.preprocess import (
    NoInkError,
    UploadError,
    centre_in_field,
    crop_to_ink,
    fit_in_box,
    grayscale,
    ink_intensity,
    open_image,
    reduction_factor,
)

# Ink above this share of a solid stroke makes a piece: its strokes above SOLID, and its soft edges above
# INK_LEVEL within EDGE pixels of them.
INK_LEVEL = 0.02
SOLID = 0.3
EDGE = 6
# A piece with less than this share of the heaviest piece's ink is a speck.
SPECK = 0.04
# A piece less than this share of its width high is a streak (a shadow's edge, a rule), not digits: eight
# digits that all touch are a fifth as high as wide.
STREAK = 0.1
# Pieces whose column spans overlap by this share of the narrower one's width are one digit.
SAME_DIGIT = 0.5
# A group of pieces less than this share of the median group's height is a fragment of a digit.
FRAGMENT = 0.6
# A piece wider than this times its height may be digits that touch.
TOUCHING = 0.75
# A digit's width over its height when no digit of the upload stands alone to tell it.
DIGIT_SHAPE = 0.8
# What a cutting into one digit more or fewer than its width makes likely costs, in log-probability (in
# proportion: a piece 1.3 digits wide is two digits, one narrow, about as often as it is one wide digit).
CUT_COST = 1.0
# What a cutting's candidates' mean ood_score above 0 costs, per unit, in log-probability: the mean, not the
# sum, so that a cutting into more digits is not charged once more for each (a 1 cut from the 7 it touches
# scores 2 to 4, and lost to the 7 read whole). Measured on numbers of TRAIN digits (never the report's test
# digits; seeds 11 and 12, 300 numbers of 2 to 8 digits and 150 of 4, plain and photographed): against the
# sum at 0.25, the mean at 0.5 read more digits right in all eight sets (0.2 to 0.8 points); at 0.75, the
# same within 0.2 points. Before, the sum at 0.25 against none: 96.3 -> 97.0% and 97.0 -> 97.3%.
OOD_WEIGHT = 0.5
# A piece cut from touching digits is this share of their height wide, at least and at most.
CUT_WIDTH = (0.2, 1.1)
# The places a piece may be cut: at most this many of its thinnest columns.
MAX_CUTS = 6
# A cut into parts of equal width moves to the thinnest column within this share of the height of its place.
EVEN_REACH = 0.15
# ... into at most this many parts (more touching digits than that are cut at their thinnest columns).
MAX_EVEN = 8
# The most digits read in one upload: beyond it, the upload is not a number.
MAX_READ = 32


class TooManyMarksError(UploadError):
    """More digit-sized marks than a number has: a page of text or a drawing, not a number."""


@dataclass(frozen=True)
class Lattice:
    """Every candidate digit of an upload and the ways they read the number: `crops` (N, 1, 28, 28) in
    MNIST's form, `boxes` each candidate's [x0, y0, x1, y1] in the upright upload's pixels (x1, y1
    exclusive), per piece of ink, left to right, its cuttings (each a list of candidate indices), and how
    many digits its width makes likely (its width over the upload's lone digits' median width)."""

    crops: Tensor
    boxes: list[list[int]]
    pieces: list[list[list[int]]]
    expected: list[float]

    def read(self, probabilities: Tensor, ood_scores: Tensor | None = None) -> list[int]:
        """The candidates that make the number, left to right, given the classifier's probabilities of each
        (N, K) and, where the model is calibrated, their ood_score (N,): per piece, the cutting whose
        candidates it reads most surely, less CUT_COST for each digit more or fewer than the piece's width
        makes likely and OOD_WEIGHT per unit of the mean of its candidates' ood_score above 0."""
        surety = probabilities.max(dim=1).values.clamp_min(1e-12).log().tolist()
        outlying = [0.0] * len(surety) if ood_scores is None else ood_scores.double().clamp_min(0).tolist()
        chosen: list[int] = []
        for cuttings, expected in zip(self.pieces, self.expected, strict=True):

            def score(cutting: list[int], expected: float = expected) -> float:
                mean_ood = sum(outlying[i] for i in cutting) / len(cutting)
                return (
                    sum(surety[i] for i in cutting)
                    - OOD_WEIGHT * mean_ood
                    - CUT_COST * abs(len(cutting) - expected)
                )

            chosen += max(cuttings, key=score)
        return chosen


def find_digits(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Lattice:
    """The candidate digits of an uploaded photo or scan of a number. Raises UploadError."""
    image = open_image(data, max_pixels)
    ink = ink_intensity(grayscale(image), row=True)
    return lattice(ink, reduction_factor(image), image.size)


def lattice(ink: np.ndarray, factor: int, size: tuple[int, int]) -> Lattice:
    """The candidates in an ink map (bright ink on 0) of an image reduced by `factor` from `size`."""
    labels, count = _pieces(ink)
    if count == 0:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    mass = ndimage.sum_labels(ink, labels, np.arange(1, count + 1))
    slices = ndimage.find_objects(labels)
    kept = [
        i
        for i, (rows, columns) in enumerate(slices)
        if mass[i] >= SPECK * mass.max() and rows.stop - rows.start >= STREAK * (columns.stop - columns.start)
    ]
    kept_slices = [slices[i] for i in kept]
    groups = _whole(_side_by_side([(columns.start, columns.stop) for _, columns in kept_slices]), kept_slices)
    if len(groups) > MAX_READ:
        raise TooManyMarksError(f"more than {MAX_READ} digit-sized marks: not a number")
    extents = [_extent(group, kept_slices) for group in groups]
    widths = np.array([right - left for _, _, left, right in extents], float)
    heights = np.array([bottom - top for top, bottom, _, _ in extents], float)
    # A digit's width is told by the digits that stand alone: a group wide enough to be digits that touch
    # says nothing of it (most of a number's digits may touch).
    alone = widths[widths <= TOUCHING * heights]
    typical = max(float(np.median(alone)) if len(alone) else 0.0, DIGIT_SHAPE * float(np.median(heights)))
    expected = [max(1.0, width / typical) for width in widths]
    tall = FRAGMENT * float(np.median(heights))
    crops: list[np.ndarray] = []
    boxes: list[list[int]] = []

    def candidate(part: np.ndarray, top: int, left: int) -> int:
        """A part of the ink (placed at top, left) as a candidate digit: its index."""
        crops.append(centre_in_field(fit_in_box(crop_to_ink(part))))
        boxes.append(_box(part, top, left, factor, size))
        return len(crops) - 1

    pieces: list[list[list[int]]] = []
    for group, (top, bottom, left, right) in zip(groups, extents, strict=True):
        group_labels = labels[top:bottom, left:right]
        piece = np.where(
            np.isin(group_labels, [kept[i] + 1 for i in group]), ink[top:bottom, left:right], 0.0
        )
        index: dict[tuple[int, int], int] = {}
        cuttings = []
        for cutting in _spans(piece):
            for start, stop in cutting:
                if (start, stop) not in index:
                    index[start, stop] = candidate(piece[:, start:stop], top, left + start)
            cuttings.append([index[span] for span in cutting])
        apart = _by_piece(group, kept_slices, tall)
        if apart is not None:
            digits = [
                np.where(np.isin(group_labels, [kept[i] + 1 for i in digit]), piece, 0.0) for digit in apart
            ]
            cuttings.append([candidate(digit, top, left) for digit in digits])
        pieces.append(cuttings)
    x = torch.from_numpy(np.stack(crops))[:, None]
    return Lattice(x, boxes, pieces, expected)


def _side_by_side(spans: list[tuple[int, int]]) -> list[list[int]]:
    """The pieces grouped into digits, left to right: a piece joins the group before it when their column
    spans overlap by SAME_DIGIT of the narrower one's width."""
    order = sorted(range(len(spans)), key=lambda i: spans[i][0])
    groups: list[list[int]] = []
    reach: tuple[int, int] | None = None
    for i in order:
        start, stop = spans[i]
        if reach is not None:
            overlap = min(stop, reach[1]) - max(start, reach[0])
            if overlap >= SAME_DIGIT * min(stop - start, reach[1] - reach[0]):
                groups[-1].append(i)
                reach = (min(start, reach[0]), max(stop, reach[1]))
                continue
        groups.append([i])
        reach = (start, stop)
    return groups


def _whole(groups: list[list[int]], slices: list[tuple[slice, slice]]) -> list[list[int]]:
    """The groups with each fragment (a group less than FRAGMENT of the median group's height: a stroke
    broken off its digit) joined to the neighbour it lies closest to."""
    groups = [list(group) for group in groups]
    while len(groups) > 1:
        spans = [_extent(group, slices) for group in groups]
        heights = [bottom - top for top, bottom, _, _ in spans]
        short = [i for i, height in enumerate(heights) if height < FRAGMENT * float(np.median(heights))]
        if not short:
            return groups
        i = min(short, key=lambda k: heights[k])
        gaps = {
            j: max(spans[j][2] - spans[i][3], spans[i][2] - spans[j][3])
            for j in (i - 1, i + 1)
            if 0 <= j < len(groups)
        }
        j = min(gaps, key=gaps.__getitem__)
        groups[min(i, j)] = groups[i] + groups[j]
        del groups[max(i, j)]
    return groups


def _pieces(ink: np.ndarray) -> tuple[np.ndarray, int]:
    """The ink's pieces: the 8-connected strokes of ink above SOLID, each with the fainter ink (above
    INK_LEVEL) within EDGE pixels of it (to the nearest stroke), its soft edges. Fainter ink farther off (a
    shadow's soft edge, a smudge) joins no piece, and so does not join two digits into one."""
    labels, count = ndimage.label(ink > SOLID, structure=np.ones((3, 3), bool))
    if count == 0:
        return labels, 0
    # Within the strokes' box and EDGE around it: the rest of the image is no piece's.
    rows, columns = (np.flatnonzero(labels.any(axis=axis)) for axis in (1, 0))
    box = np.s_[
        max(rows[0] - EDGE, 0) : rows[-1] + EDGE + 1,
        max(columns[0] - EDGE, 0) : columns[-1] + EDGE + 1,
    ]
    strokes = labels[box]
    distance, (near_rows, near_columns) = ndimage.distance_transform_edt(strokes == 0, return_indices=True)
    pieces = np.zeros_like(labels)
    pieces[box] = np.where((ink[box] > INK_LEVEL) & (distance <= EDGE), strokes[near_rows, near_columns], 0)
    return pieces, count


def _by_piece(group: list[int], slices: list[tuple[slice, slice]], tall: float) -> list[list[int]] | None:
    """The group's pieces as digits of their own, left to right by where each begins (a 7 before the 1 under
    its bar): each piece at least `tall` high, the smaller ones joined to the nearest (by the middle of their
    columns): digits that overlap without touching. None unless two or more pieces are that tall."""
    middles = {i: (slices[i][1].start + slices[i][1].stop) / 2 for i in group}
    order = sorted(group, key=lambda i: slices[i][1].start)
    digits = {i: [i] for i in order if slices[i][0].stop - slices[i][0].start >= tall}
    if len(digits) < 2:
        return None
    for i in group:
        if i not in digits:
            digits[min(digits, key=lambda d: abs(middles[d] - middles[i]))].append(i)
    return list(digits.values())


def _extent(group: list[int], slices: list[tuple[slice, slice]]) -> tuple[int, int, int, int]:
    """The rows and columns a group of pieces spans: top, bottom, left, right."""
    rows, columns = zip(*(slices[i] for i in group), strict=True)
    return (
        min(r.start for r in rows),
        max(r.stop for r in rows),
        min(c.start for c in columns),
        max(c.stop for c in columns),
    )


def _spans(piece: np.ndarray) -> list[list[tuple[int, int]]]:
    """The ways to cut a piece of ink (cropped to it) into digits: column spans, left to right. Uncut, and,
    if it is wide enough to be digits that touch, every cutting at its thinnest columns, and into 2 or more
    parts of about equal width, whose parts are CUT_WIDTH of its height wide and all hold ink."""
    height, width = piece.shape
    cuttings = [[(0, width)]]
    if width <= TOUCHING * height:
        return cuttings
    narrowest, widest = (share * height for share in CUT_WIDTH)
    columns = piece.sum(axis=0)
    profile = ndimage.uniform_filter1d(columns, 3)

    def add(chosen: Sequence[int]) -> None:
        parts = list(itertools.pairwise([0, *chosen, width]))
        if parts not in cuttings and all(
            narrowest <= stop - start <= widest and columns[start:stop].any() for start, stop in parts
        ):
            cuttings.append(parts)

    inner = np.arange(1, width - 1)
    minima = inner[(profile[inner] <= profile[inner - 1]) & (profile[inner] <= profile[inner + 1])]
    minima = minima[(minima >= narrowest) & (minima <= width - narrowest)]
    cuts = sorted(minima[np.argsort(profile[minima], kind="stable")][:MAX_CUTS].tolist())
    for k in range(1, len(cuts) + 1):
        for chosen in itertools.combinations(cuts, k):
            add(chosen)
    # Each cut of an equal division moves to the thinnest column near its place: where digits touch along a
    # stroke, the thinnest columns of all may lie inside a digit (a 0's middle).
    reach = max(1, round(EVEN_REACH * height))
    for n in range(2, min(int(width // narrowest), MAX_EVEN) + 1):
        lows = [max(round(k * width / n) - reach, 0) for k in range(1, n)]
        add([low + int(np.argmin(profile[low : low + 2 * reach + 1])) for low in lows])
    return cuttings


def _box(part: np.ndarray, top: int, left: int, factor: int, size: tuple[int, int]) -> list[int]:
    """The ink of `part` (placed at top, left of the reduced image) as a box of the upright upload."""
    rows, columns = (np.flatnonzero(part.any(axis=axis)) for axis in (1, 0))
    width, height = size
    return [
        int((left + columns[0]) * factor),
        int((top + rows[0]) * factor),
        int(min((left + columns[-1] + 1) * factor, width)),
        int(min((top + rows[-1] + 1) * factor, height)),
    ]


@torch.inference_mode()
def read_number(
    data: bytes, classifier: torch.nn.Module, ood_score: Callable[[Tensor], Tensor] | None = None
) -> list[tuple[int, list[int]]]:
    """The digits of a written number, left to right, as the classifier reads the lattice's best cutting
    (judged by `ood_score` of each candidate too, where given: the service's), each with its box."""
    found = find_digits(data)
    probabilities = torch.softmax(classifier(found.crops), dim=1)
    chosen = found.read(probabilities, ood_score(found.crops) if ood_score is not None else None)
    return list(
        zip(probabilities[chosen].argmax(dim=1).tolist(), [found.boxes[i] for i in chosen], strict=True)
    )


def read_digits(
    data: bytes, classifier: torch.nn.Module, ood_score: Callable[[Tensor], Tensor] | None = None
) -> list[int]:
    """The digits of a written number, left to right (read_number without the boxes)."""
    return [digit for digit, _ in read_number(data, classifier, ood_score)]
