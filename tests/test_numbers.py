"""model/numbers.py: a number's digits set side by side, each varied a little, the same for the same seed."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from model.legibility import LegibilityNet, foreseen
from model.numbers import (
    GAP,
    MARGIN,
    MAX_DIGITS,
    TILE,
    TRIES,
    Z_STEP,
    Hand,
    number_labels,
    write,
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


def fake_foresee(likely: dict[tuple[int, int], float], calls: list[int]):
    """A foresee that reads each row's try index from z[:, 0] and foresees (digit, try) as likely.get(...,
    0.0); the digit is the label."""

    def foresee(labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        calls.append(len(labels))
        tries = z[:, 0].round().long().tolist()
        return torch.tensor([likely.get((d, t), 0.0) for d, t in zip(labels.tolist(), tries, strict=True)])

    return foresee


def tries_apart(hand: Hand) -> Hand:
    """The hand with each try's step its index in z's first coordinate, so tries can be told apart."""
    steps = np.zeros_like(hand.steps)
    steps[:, :, 0] = np.arange(TRIES) / Z_STEP
    return Hand(steps, hand.scales, hand.slants, hand.shifts, hand.gaps)


def test_each_digit_takes_its_first_step_foreseen_legible_else_the_likeliest() -> None:
    hand = tries_apart(Hand.drawn(0, 3, 2))
    labels = torch.tensor([0, 1, 2])
    # The 0 is foreseen legible at once, the 1 at its second step, the 2 never (0.5 is FORESEEN).
    likely = {(0, 0): 0.95, (1, 0): 0.3, (1, 1): 0.92, (1, 2): 0.99, (2, 0): 0.1, (2, 1): 0.4, (2, 2): 0.2}
    calls: list[int] = []
    z = hand.chosen(torch.zeros(2), labels, fake_foresee(likely, calls))
    assert calls == [3 * TRIES]  # every step of every digit, foreseen at once
    assert z[:, 0].round().long().tolist() == [0, 1, 1]
    assert torch.equal(hand.chosen(torch.zeros(2), labels, None)[:, 0], torch.zeros(3))


def test_a_digits_step_and_foresight_depend_on_its_own_steps_alone() -> None:
    torch.manual_seed(0)
    net = LegibilityNet(12, 10).eval()
    style = torch.linspace(-1, 1, 12)
    longer, prefix = Hand.drawn(9, 7, 12), Hand.drawn(9, 3, 12)
    labels = number_labels("2026199")
    foresee = partial(foreseen, net)
    chosen_long = longer.chosen(style, labels, foresee)
    assert torch.equal(prefix.chosen(style, labels[:3], foresee), chosen_long[:3])
    # Some digits leave their first step: the choice is not the first step in disguise.
    assert not torch.equal(chosen_long, longer.latents(style))
    digits, tries = np.repeat(np.arange(7), TRIES), np.tile(np.arange(TRIES), 7)
    rows = longer.latents(style, digits, tries)
    together = foreseen(net, labels[digits], rows)
    for digit in range(7):
        block = slice(digit * TRIES, (digit + 1) * TRIES)
        assert torch.equal(foreseen(net, labels[digits][block], rows[block]), together[block])


def test_write_decodes_every_digit_once_at_its_chosen_step() -> None:
    hand = tries_apart(Hand.drawn(4, 4, 2))
    likely = {(d, t): 0.9 if t == d % TRIES else 0.1 for d in range(10) for t in range(TRIES)}
    decoded: list[list[int]] = []

    def decode(labels: torch.Tensor, z: torch.Tensor) -> np.ndarray:
        tries = z[:, 0].round().long().tolist()
        decoded.append(tries)
        return np.stack([np.full((TILE, TILE), 10 * t + 40, np.uint8) for t in tries])

    written = write(hand, torch.zeros(2), number_labels("2026"), decode, fake_foresee(likely, []))
    assert decoded == [[2, 0, 2, 2]]
    for (x0, y0, x1, y1), step in zip(written.boxes, [2, 0, 2, 2], strict=True):
        assert written.image[y0:y1, x0:x1].max() == 10 * step + 40
