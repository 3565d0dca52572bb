"""model/reading.py: a written number's digits found left to right, broken strokes joined, touching digits
cut where the classifier reads the parts best, and the digits read."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from model.preprocess import NoInkError
from model.reading import MAX_READ, Lattice, TooManyMarksError, find_digits, lattice, read_digits
from training.data import Split


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def on_paper(strip: np.ndarray, scale: int = 3, margin: int = 40) -> bytes:
    """A white-on-black uint8 strip as dark ink on white paper, enlarged, with a margin."""
    height, width = strip.shape
    ink = Image.fromarray(255 - strip).resize((width * scale, height * scale), Image.Resampling.BILINEAR)
    return png(np.pad(np.asarray(ink), margin, constant_values=255))


def strip_of(digits: list[np.ndarray], gaps: list[int]) -> np.ndarray:
    """28x28 white-on-black digits cut to their ink columns and set side by side, `gaps` apart (negative:
    overlapping), with a margin."""
    parts = []
    for digit in digits:
        columns = np.flatnonzero(digit.max(axis=0) > 0)
        parts.append(digit[:, columns[0] : columns[-1] + 1])
    width = 8 + sum(part.shape[1] for part in parts) + sum(gaps)
    strip = np.zeros((28, width + 8), dtype=np.uint8)
    left = 4
    for part, gap in zip(parts, [0, *gaps], strict=True):
        left += gap
        region = strip[:, left : left + part.shape[1]]
        np.maximum(region, part, out=region)
        left += part.shape[1]
    return strip


def bars(count: int) -> np.ndarray:
    """An ink map of `count` upright bars side by side, a bar's width apart."""
    ink = np.zeros((60, 40 * count + 40), dtype=np.float32)
    for i in range(count):
        ink[10:50, 30 + 40 * i : 40 + 40 * i] = 1.0
    return ink


def sure(found: Lattice, readings: dict[int, float]) -> torch.Tensor:
    """Probabilities that read candidate i as class 0 with readings[i] (0.9 for the rest)."""
    probabilities = torch.full((len(found.crops), 10), 0.0)
    for i in range(len(found.crops)):
        p = readings.get(i, 0.9)
        probabilities[i] = (1 - p) / 9
        probabilities[i, 0] = p
    return probabilities


def test_marks_apart_are_digits_left_to_right_with_their_boxes() -> None:
    found = lattice(bars(5), factor=2, size=(2 * 240, 2 * 60))
    chosen = found.read(sure(found, {}))
    boxes = [found.boxes[i] for i in chosen]
    assert len(chosen) == 5 and found.crops.shape[1:] == (1, 28, 28)
    assert boxes == [[2 * (30 + 40 * i), 20, 2 * (40 + 40 * i), 100] for i in range(5)]


def test_a_stroke_broken_off_its_digit_is_joined_to_it() -> None:
    ink = bars(3)
    ink[20:24, 75:100] = 0  # the middle bar's top quarter broken off, and a foot beside its bottom
    ink[10:20, 70:80] = 1.0
    found = lattice(ink, 1, ink.shape[::-1])
    assert len(found.read(sure(found, {}))) == 3


def test_touching_digits_are_cut_where_the_parts_read_best() -> None:
    ink = bars(3)
    ink[28:32, 40:70] = 1.0  # the first two bars joined into one wide piece
    found = lattice(ink, 1, ink.shape[::-1])
    whole = [cutting for cuttings in found.pieces for cutting in cuttings if len(cutting) == 1]
    read_whole = {i: 0.99 for (i,) in whole}
    assert len(found.read(sure(found, {}))) >= 3  # its parts read as well as it does: cut
    cut_parts = {i: 0.2 for i in range(len(found.crops)) if [i] not in whole}
    assert len(found.read(sure(found, read_whole | cut_parts))) == 2  # read whole, and its parts poorly


def test_a_candidate_unlike_a_digit_costs_its_ood_score() -> None:
    ink = bars(3)
    ink[28:32, 40:70] = 1.0  # the first two bars joined into one wide piece
    found = lattice(ink, 1, ink.shape[::-1])
    whole = [i for cuttings in found.pieces for (i, *rest) in cuttings if not rest]
    probabilities = sure(
        found, dict.fromkeys(whole, 0.99) | {i: 0.9 for i in range(len(found.crops)) if i not in whole}
    )
    assert len(found.read(probabilities)) == 2  # read whole: it reads more surely than its parts
    # The outlier detector says the joined piece is no digit (an ood_score of 8): cut.
    unlike = torch.tensor([8.0 if i in whole else 0.0 for i in range(len(found.crops))])
    assert len(found.read(probabilities, unlike)) == 3
    # A score below 0 (more like a digit than the median held-out digit) costs nothing.
    assert found.read(probabilities, torch.full((len(found.crops),), -5.0)) == found.read(probabilities)


def test_a_cutting_pays_the_mean_of_its_candidates_ood_scores_not_their_sum() -> None:
    ink = bars(3)
    ink[28:32, 40:70] = 1.0  # the first two bars joined into one wide piece
    found = lattice(ink, 1, ink.shape[::-1])
    whole = [i for cuttings in found.pieces for (i, *rest) in cuttings if not rest]
    probabilities = sure(found, {})
    # Every candidate equally unlike a digit: a cutting into two pays what the piece read whole pays, once
    # (summed, the two parts would pay twice and the piece would be read whole).
    alike = torch.full((len(found.crops),), 6.0)
    assert found.read(probabilities, alike) == found.read(probabilities)
    assert len(found.read(probabilities, alike)) == 3
    assert all(i not in whole for i in found.read(probabilities, alike)[:2])


def test_a_streak_over_the_number_is_not_a_digit() -> None:
    ink = bars(3)
    ink[2:4, :] = 0.5  # a shadow's edge or a rule across the image, apart from the digits
    found = lattice(ink, 1, ink.shape[::-1])
    assert len(found.read(sure(found, {}))) == 3


def test_faint_ink_far_from_the_strokes_joins_no_digits() -> None:
    ink = bars(3)
    ink[8:10, 30:120] = 0.2  # a shadow's soft edge running along the digits' tops
    found = lattice(ink, 1, ink.shape[::-1])
    assert len(found.pieces) == 3 and len(found.read(sure(found, {}))) == 3


def test_a_piece_a_third_wider_than_a_digit_may_be_two() -> None:
    ink = bars(4)
    ink[10:50, 150:160] = 0.0  # the last bar moved left and joined to the one before: 42 columns in all
    ink[10:50, 142:152] = 1.0
    ink[28:32, 120:142] = 1.0
    found = lattice(ink, 1, ink.shape[::-1])
    assert found.expected[-1] == pytest.approx(42 / 32)  # over a digit's width, 0.8 of its height
    whole = [i for (i,) in (c for c in found.pieces[-1] if len(c) == 1)]
    parts = {i: 0.95 for cutting in found.pieces[-1] if len(cutting) == 2 for i in cutting}
    # Its halves read far more surely than it does: two digits, though it is nearer one digit's width.
    assert len(found.read(sure(found, parts | {whole[0]: 0.5}))) == 4


def test_digits_that_share_columns_without_touching_may_be_read_apart() -> None:
    ink = np.pad(bars(3), ((0, 0), (0, 80)))
    ink[10:14, 150:180] = 1.0  # a 7's bar over its stem ...
    ink[10:50, 176:180] = 1.0
    ink[20:50, 160:164] = 1.0  # ... and a 1 under it, not touching
    found = lattice(ink, 1, ink.shape[::-1])
    (whole,), apart = found.pieces[-1]
    assert len(apart) == 2 and found.boxes[apart[0]][0] == 150 and found.boxes[apart[1]][0] == 160
    assert len(found.read(sure(found, {}))) == 4  # read as one digit as surely: one
    assert len(found.read(sure(found, {whole: 0.2}))) == 5  # its pieces read far better apart: two


def test_no_ink_and_too_many_marks_are_refused() -> None:
    with pytest.raises(NoInkError):
        lattice(np.zeros((50, 50), np.float32), 1, (50, 50))
    many = np.zeros((60, 40 * (MAX_READ + 2)), np.float32)
    many[10:50, 20::40] = 1.0
    many[10:50, 21::40] = 1.0
    with pytest.raises(TooManyMarksError, match="not a number"):
        lattice(many, 1, many.shape[::-1])
    with pytest.raises(NoInkError):
        find_digits(png(np.full((80, 200), 255, np.uint8)))


@pytest.fixture(scope="module")
def classifier() -> torch.nn.Module:
    from model.checkpoint import load_checkpoint
    from model.inference import inference_form

    return inference_form(
        load_checkpoint("checkpoints/digit-classifier", "classifier", torch.device("cpu")).model
    )


def test_real_digits_written_apart_or_touching_are_read(
    classifier: torch.nn.Module, offline_split: Split
) -> None:
    rng = np.random.default_rng(0)
    images, labels = offline_split.test_images, offline_split.test_labels
    right = total = 0
    for trial in range(24):
        chosen = rng.choice(len(images), size=4, replace=False)
        gaps = [-2 if trial % 3 == 0 and k == 1 else int(rng.integers(2, 8)) for k in range(3)]
        strip = strip_of([images[i] for i in chosen], gaps)
        read = read_digits(on_paper(strip) if trial % 2 else png(strip), classifier)
        total += 1
        right += read == labels[chosen].tolist()
    assert right >= 20, f"{right} of {total} numbers read right"


def test_a_one_after_the_number_is_a_digit_not_a_margin_line(
    classifier: torch.nn.Module, offline_split: Split
) -> None:
    images, labels = offline_split.test_images, offline_split.test_labels
    ones, others = np.flatnonzero(labels == 1), np.flatnonzero((labels != 1) & (labels != 7))
    right = 0
    for k in range(6):
        chosen = [*others[3 * k : 3 * k + 3], ones[k]]
        strip = strip_of([images[i] for i in chosen], [6, 6, 6])
        # Written small in a tight crop: the 1's stem is over a third of the image high and a thin line.
        read = read_digits(on_paper(strip, scale=2, margin=10), classifier)
        right += len(read) == 4 and read[-1] == 1
    assert right >= 5, f"{right} of 6 numbers ending in 1 read with their 1"
