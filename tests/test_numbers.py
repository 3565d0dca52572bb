"""model/numbers.py: a number's digits set side by side, each varied a little, the same for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.legible import Judged
from model.numbers import (
    GAP,
    MARGIN,
    MAX_DIGITS,
    TILE,
    TRIES,
    Z_STEP,
    Hand,
    Writing,
    number_labels,
    write,
    write_together,
    writes_numbers,
)


def bar_tiles(widths: list[int]) -> np.ndarray:
    """28x28 tiles, each a white upright bar of the given width in its middle rows and columns."""
    tiles = np.zeros((len(widths), TILE, TILE), dtype=np.uint8)
    for tile, width in zip(tiles, widths, strict=True):
        left = (TILE - width) // 2
        tile[6:22, left : left + width] = 255
    return tiles


def test_number_labels_are_the_digits_left_to_right() -> None:
    assert number_labels("2026").tolist() == [2, 0, 2, 6]
    for text in ("", "12a", "1.5", "-3", "٣", " 42", "1" * (MAX_DIGITS + 1)):
        with pytest.raises(ValueError, match="1 to 16 of the digits"):
            number_labels(text)


def test_only_the_digits_classes_write_numbers() -> None:
    assert writes_numbers([str(d) for d in range(10)])
    assert not writes_numbers(["T-shirt/top", "Trouser", *map(str, range(8))])
    assert not writes_numbers([str(d) for d in range(9)])


def test_the_same_seed_gives_the_same_hand_and_a_prefix_is_drawn_alike() -> None:
    first, again, longer = Hand.drawn(5, 4, 12), Hand.drawn(5, 4, 12), Hand.drawn(5, 7, 12)
    tiles = bar_tiles([3, 5, 7, 4])
    assert (first.compose(tiles).image == again.compose(tiles).image).all()
    np.testing.assert_array_equal(longer.steps[:4], first.steps)
    np.testing.assert_array_equal(longer.gaps[:4], first.gaps)
    assert not np.array_equal(Hand.drawn(6, 4, 12).steps, first.steps)


def test_each_digit_gets_a_small_step_from_the_one_style() -> None:
    hand = Hand.drawn(0, 6, 12)
    style = torch.linspace(-1, 1, 12)
    latents = hand.latents(style)
    steps = (latents - style).norm(dim=1)
    assert latents.shape == (6, 12) and (steps > 0).all() and (steps < 1.5).all()
    assert len({tuple(row.tolist()) for row in latents}) == 6


def test_boxes_hold_each_digit_left_to_right_apart_by_the_gaps() -> None:
    widths = [2, 6, 10, 4, 8]
    hand = Hand.drawn(3, len(widths), 4)
    written = hand.compose(bar_tiles(widths))
    image, boxes = written.image, written.boxes
    assert image.dtype == np.uint8 and image.shape[0] == TILE
    assert boxes[0][0] == MARGIN and image.shape[1] - boxes[-1][2] == MARGIN
    for (x0, y0, x1, y1), gap, following in zip(boxes, hand.gaps[1:], boxes[1:], strict=False):
        assert following[0] - x1 == gap and GAP[0] <= gap <= GAP[1]
        assert 0 <= y0 < y1 <= TILE and x0 < x1
    for x0, y0, x1, y1 in boxes:  # each edge of a box touches its ink
        inside = image[y0:y1, x0:x1] >= 32
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
    # Every bright pixel lies in a box: nothing is drawn outside the digits.
    covered = np.zeros_like(image, dtype=bool)
    for x0, y0, x1, y1 in boxes:
        covered[y0:y1, x0:x1] = True
    assert not ((image >= 32) & ~covered).any()


def test_a_digit_is_varied_in_size_slant_and_baseline() -> None:
    written = [Hand.drawn(seed, 1, 4).compose(bar_tiles([4])) for seed in range(12)]
    heights = {box[3] - box[1] for w in written for box in w.boxes}
    tops = {w.boxes[0][1] for w in written}
    widths = {box[2] - box[0] for w in written for box in w.boxes}
    assert len(heights) > 1 and len(tops) > 1 and len(widths) > 1


def test_a_taller_image_is_the_number_enlarged_with_its_boxes() -> None:
    hand = Hand.drawn(1, 3, 4)
    tiles = bar_tiles([3, 6, 9])
    small, large = hand.compose(tiles), hand.compose(tiles, height=3 * TILE)
    assert large.image.shape == (3 * TILE, 3 * small.image.shape[1])
    for box, big in zip(small.boxes, large.boxes, strict=True):
        assert big == [3 * value for value in box]
        x0, y0, x1, y1 = big
        assert large.image[y0:y1, x0:x1].max() >= 200


def test_a_tile_without_ink_still_gets_a_box() -> None:
    tiles = bar_tiles([4, 4])
    tiles[1] = 0
    boxes = Hand.drawn(0, 2, 4).compose(tiles).boxes
    assert boxes[1][2] - boxes[1][0] == 1 and boxes[1][0] > boxes[0][2]


def fake_judge(sureness: dict[tuple[int, int], float], calls: list[int]):
    """A judge whose tiles are filled with each row's try index (read from z) and whose confidence for
    (digit, try) is sureness.get(..., 0.0); the digit is the label."""

    def judge(labels: torch.Tensor, z: torch.Tensor) -> Judged:
        calls.append(len(labels))
        tries = z[:, 0].round().long().tolist()
        tiles = np.stack([np.full((TILE, TILE), 10 * t + 1, np.uint8) for t in tries])
        confidence = torch.tensor(
            [sureness.get((d, t), 0.0) for d, t in zip(labels.tolist(), tries, strict=True)]
        )
        return Judged(tiles, torch.zeros(len(labels), 10), confidence)

    return judge


def test_a_digit_not_read_as_itself_is_written_again_and_the_surest_try_kept() -> None:
    hand = Hand.drawn(0, 3, 2)
    # Each try's step is its index in its first coordinate, so the fake judge can tell the tries apart.
    steps = np.zeros_like(hand.steps)
    steps[:, :, 0] = np.arange(TRIES) / Z_STEP
    hand = Hand(steps, hand.scales, hand.slants, hand.shifts, hand.gaps)
    labels = torch.tensor([0, 1, 2])
    # The 0 is read surely at once, the 1 at its second try, the 2 never (0.9 is LEGIBLE).
    sureness = {(0, 0): 0.95, (1, 0): 0.3, (1, 1): 0.92, (2, 0): 0.5, (2, 1): 0.7, (2, 2): 0.2, (2, 3): 0.6}
    calls: list[int] = []
    writing = Writing(hand, torch.zeros(2), labels)
    while (rows := writing.rows()) is not None:
        writing.keep(fake_judge(sureness, calls)(*rows))
    assert calls == [3, 2, 1, 1]  # all three; the 1 and the 2 again; the 2 twice more
    assert writing.decoded == 1 + 2 + TRIES
    tiles = writing._tiles
    assert [int(tile[0, 0]) for tile in tiles] == [1, 11, 11]  # first try; second try; the surest, the second


def test_write_judges_every_numbers_rows_together_as_one_by_one() -> None:
    rng = np.random.default_rng(0)
    sureness = {(d, t): float(rng.uniform(0.5, 1.0)) for d in range(10) for t in range(TRIES)}
    hands = [Hand.drawn(seed, 4, 2) for seed in range(3)]
    texts = ["2026", "1234", "9999"]
    alone = [
        write(h, torch.zeros(2), number_labels(t), fake_judge(sureness, []))
        for h, t in zip(hands, texts, strict=True)
    ]
    together = [Writing(h, torch.zeros(2), number_labels(t)) for h, t in zip(hands, texts, strict=True)]
    calls: list[int] = []
    write_together(together, fake_judge(sureness, calls))
    assert len(calls) <= TRIES and calls[0] == 12
    for one, writing in zip(alone, together, strict=True):
        assert (one.image == writing.written().image).all() and one.boxes == writing.written().boxes
