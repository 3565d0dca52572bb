"""Preprocessing of uploads unlike MNIST: wide strokes stay solid, printed lines are left out, and the notes
say what was done."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from app_support import encode_image
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from scipy import ndimage

from model.preprocess import prepare_upload, preprocess_upload

# A 7 and a 1 without holes (a bar and a stem; a flag and a stem), as points of a 100-unit-high box.
SEVEN = [(20, 10), (80, 10), (45, 95)]
ONE = [(40, 25), (55, 5), (55, 95)]


def _written_digit(
    height: int, width_share: float, light: str, filled: bool = False, shape: list[tuple[int, int]] = SEVEN
) -> np.ndarray:
    """A dark 7 (or another `shape`) `height` pixels high, strokes `width_share` of that wide, on a white
    page under `light` (even, or falling off across the page as a photo's does); `filled`: the page cut to
    the digit and a margin a tenth of its height, as a felt-tip drawing is often sent."""
    side = 2 * height
    scale = height / 100
    page = Image.new("L", (side, side), 0)
    points = [(side // 4 + x * scale, side // 4 + y * scale) for x, y in shape]
    ImageDraw.Draw(page).line(points, fill=255, width=max(1, round(width_share * height)), joint="curve")
    ink = np.asarray(page, np.float32) / 255
    ys, xs = np.mgrid[0:side, 0:side] / side
    paper = np.full((side, side), 0.95, np.float32) if light == "even" else 0.95 - 0.5 * (0.6 * xs + 0.4 * ys)
    written = (255 * paper * (1 - 0.9 * ink)).astype(np.uint8)
    if not filled:
        return written
    rows, cols = (np.flatnonzero(ink.any(axis=axis) > 0) for axis in (1, 0))
    margin = max(1, height // 10)
    return written[
        max(0, rows[0] - margin) : rows[-1] + margin + 1, max(0, cols[0] - margin) : cols[-1] + margin + 1
    ]


def _enclosed(x: torch.Tensor) -> int:
    """Dark pixels of the 28x28 input that its ink surrounds: 0 for a solid 7, the inside of an outline."""
    ink = x[0, 0].numpy() > 0.5
    return int((ndimage.binary_fill_holes(ink) & ~ink).sum())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(60, 400),
    width_share=st.floats(0.04, 1 / 3),
    light=st.sampled_from(["even", "gradient"]),
    filled=st.booleans(),
    shape=st.sampled_from([SEVEN, ONE]),
)
# Found by hypothesis: under falling light, the thin closing took a felt-tip 7's bar for paper and kept its
# stem, a little over half of the wide strokes: the bar came out hollow, and its joint with the stem a hole.
@example(height=218, width_share=0.234375, light="gradient", filled=False, shape=SEVEN)
@example(height=225, width_share=0.225, light="gradient", filled=False, shape=SEVEN)
def test_a_stroke_up_to_a_third_of_the_digit_wide_stays_solid(
    height: int, width_share: float, light: str, filled: bool, shape: list[tuple[int, int]]
) -> None:
    page = _written_digit(height, width_share, light, filled, shape)
    x = preprocess_upload(encode_image(Image.fromarray(page), "PNG"))
    # An outline encloses tens of pixels; the acute joint of a thin 1's flag can close one grey pixel.
    assert _enclosed(x) <= 1
    if width_share >= 0.1:  # a stroke over two pixels wide in the 20-pixel box: its core is full ink
        core = ndimage.binary_erosion(x[0, 0].numpy() > 0.5)
        assert x[0, 0].numpy()[core].mean() > 0.9


def _on_paper(ruling: str, width_share: float = 0.07, offset: int = 0) -> bytes:
    """The 7 written small (strokes `width_share` of its height wide) on a 600x450 page with printed lines
    (none, squared or ruled), dark grey lines three pixels wide every 40 pixels (the first `offset` pixels
    lower), tilted by 2 degrees as a photo of a page is."""
    page = Image.new("L", (600, 450), 240)
    draw = ImageDraw.Draw(page)
    if ruling in ("squared", "ruled"):
        for y in range(offset - 40, 520, 40):
            draw.line([(0, y), (600, y + 21)], fill=120, width=3)
    if ruling == "squared":
        for x in range(offset - 40, 640, 40):
            draw.line([(x, 0), (x - 16, 450)], fill=120, width=3)
    seven = Image.fromarray(255 - _written_digit(90, width_share, "even")).crop((30, 30, 160, 160))
    page.paste(Image.new("L", seven.size, 20), (250, 150), mask=seven.point(lambda v: 255 if v > 60 else 0))
    return encode_image(page.convert("RGB"), "JPEG", quality=85)


def test_printed_lines_are_left_out_and_said() -> None:
    plain = prepare_upload(_on_paper("plain"))
    assert plain.notes == ()
    for ruling in ("squared", "ruled"):
        lined = prepare_upload(_on_paper(ruling))
        assert any("printed lines" in note for note in lined.notes), ruling
        # The same 7 as on plain paper (but for stubs of the lines where they cross it), not a patch of the
        # grid, whose lines would fill the box: 0.3 and more.
        assert (lined.x - plain.x).abs().mean() < 0.15, ruling


@pytest.mark.parametrize("width_share", [0.2, 0.25])
@pytest.mark.parametrize("offset", [0, 8, 16, 24, 32])
def test_a_rule_that_a_thick_stroke_cuts_in_two_is_still_a_printed_line(
    width_share: float, offset: int
) -> None:
    """A felt-tip 7 written across the rules: its stroke, too thick to be a line's, cuts each rule it crosses
    into a piece that ends in the digit on either side. The two are one rule, left out: kept, they span the
    page and the box around the digit (0.15 and more from the plain page's 7)."""
    plain = prepare_upload(_on_paper("plain", width_share)).x
    ruled = prepare_upload(_on_paper("ruled", width_share, offset)).x
    assert (ruled - plain).abs().mean() < 0.08


def test_a_digit_alone_has_no_notes() -> None:
    assert prepare_upload(encode_image(Image.fromarray(_written_digit(100, 0.1, "even")), "PNG")).notes == ()


def test_two_separate_digit_sized_marks_are_said() -> None:
    page = np.full((200, 500), 245, np.uint8)
    seven = _written_digit(80, 0.1, "even")[30:150, 30:150]
    page[40:160, 20:140] = seven
    page[40:160, 360:480] = seven
    prepared = prepare_upload(encode_image(Image.fromarray(page), "PNG"))
    assert any("2 separate digit-sized marks were found side by side" in note for note in prepared.notes)


def test_a_thin_digits_straight_strokes_are_not_printed_lines() -> None:
    """A Z-shaped 2 in a faint fine pen, pressed harder at the foot of its diagonal: its top bar is long,
    thin, straight and apart from the darkest stroke, but it ends in the diagonal, where a printed line would
    cross the digit and go on."""
    page = Image.new("L", (140, 160), 250)
    draw = ImageDraw.Draw(page)
    draw.line([(35, 45), (105, 45), (35, 115), (105, 115)], fill=150, width=2)
    draw.line([(55, 95), (35, 115)], fill=40, width=3)
    prepared = prepare_upload(encode_image(page, "PNG"))
    assert prepared.notes == ()
    top = prepared.x[0, 0, : prepared.x.shape[-1] // 3]
    assert (top > 0.2).sum() >= 10  # the top bar is there


def _pale_zero(ink: int) -> bytes:
    """A 0 whose stroke is near a quarter of its height wide, in grey `ink` on paper lit most at its middle
    (a lamp above it), filling the image: the paper inside its loop is narrower than the strokes."""
    page = Image.new("L", (130, 150), 255)
    ImageDraw.Draw(page).ellipse((25, 15, 105, 135), outline=ink, width=28)
    ys, xs = np.mgrid[0:150, 0:130]
    light = 1.0 - 0.1 * (((ys - 75) / 75) ** 2 + ((xs - 65) / 65) ** 2)
    return encode_image(Image.fromarray((np.asarray(page) * light).astype(np.uint8)), "PNG")


def test_wide_pale_strokes_are_the_ink_not_the_paper_between_them() -> None:
    """Pencil grey on white: the paper in the loop stands out from the strokes as brightly as ink would, but
    the page's border is its paper, so the ink is dark; the input is the black-ink 0's."""
    pale, black = (preprocess_upload(_pale_zero(ink)) for ink in (180, 20))
    assert (pale - black).abs().mean() < 0.1


def _as_png_input(page: np.ndarray) -> torch.Tensor:
    return preprocess_upload(encode_image(Image.fromarray(page.astype(np.uint8)), "PNG"))


def test_a_shadow_holding_the_darkest_pixel_is_not_taken_for_the_paper() -> None:
    """A photo whose left third lies in a shadow darker than the pen's grey: the darkest pixel is shadowed
    paper, not ink, and the lit paper must not be read as bright ink on dark paper."""
    page = np.asarray(Image.open(io.BytesIO(_on_paper("plain"))).convert("L"), np.float32)
    lit = 255 - 0.45 * (255 - page)  # a pen's mid grey
    shadowed = lit.copy()
    shadowed[:, :200] *= 0.35
    plain, in_shadow = (_as_png_input(a) for a in (lit, shadowed))
    assert (in_shadow - plain).abs().mean() < 0.1


def test_a_digit_inside_a_disk_of_shadow_is_read_without_it() -> None:
    """The 7 inside a round shadow with a soft edge (a phone's, held above the page): the shade is paler
    than the pen, so it is the paper under the 7, not a felt-tip's wide stroke around it."""
    page = np.asarray(Image.open(io.BytesIO(_on_paper("plain"))).convert("L"), np.float32)
    ys, xs = np.mgrid[0 : page.shape[0], 0 : page.shape[1]]
    disk = ((ys - 215) ** 2 + (xs - 315) ** 2 < 80**2).astype(np.float32)
    shade = 1.0 - 0.45 * ndimage.gaussian_filter(disk, 6)
    plain, shaded = (_as_png_input(a) for a in (page, page * shade))
    assert (shaded - plain).abs().mean() < 0.1


def _pale_seven_in_a_vignette(vignette: float) -> bytes:
    """A pencil 7 (grey, strokes a seventh of its height wide) in the middle of a 640x480 phone photo whose
    light falls off by `vignette` towards the corners, as a JPEG."""
    ys, xs = np.mgrid[0:480, 0:640].astype(np.float32)
    light = 1.0 - vignette * np.minimum((((ys - 240) / 240) ** 2 + ((xs - 320) / 320) ** 2) / 2, 1.0)
    ink = Image.new("L", (640, 480), 0)
    ImageDraw.Draw(ink).line([(270, 170), (370, 170), (310, 315)], fill=255, width=20, joint="curve")
    paper = 0.92 * light * (1 - 0.3 * np.asarray(ink, np.float32) / 255)
    paper += np.random.default_rng(0).normal(0, 0.01, paper.shape)
    return encode_image(Image.fromarray((np.clip(paper, 0, 1) * 255).astype(np.uint8)), "JPEG", quality=85)


@pytest.mark.parametrize("vignette", [0.4, 0.55, 0.7])
def test_a_pencil_digit_in_a_vignette_is_dark_ink(vignette: float) -> None:
    """Under a vignette the page's border is darker than halfway, so it does not say the paper is light, and
    neither way stands out at the extreme pixels; where each stands out most, the lit paper between the
    pencil's wide strokes stands out from an opening about as much as the strokes from the closing. It was
    read as bright ink on dark paper (0.15 from the evenly lit 7); bright ink must stand out twice as much."""
    even, vignetted = (preprocess_upload(_pale_seven_in_a_vignette(v)) for v in (0.0, vignette))
    assert (vignetted - even).abs().mean() < 0.05


def test_a_dark_corner_the_digits_size_is_not_the_digit() -> None:
    """A shadow in the page's corner, as large as the 7 and darker than the paper by half: one paper value
    for the page finds it as the darkest thing there, but it does not hold the strokes the closings found."""
    page = np.asarray(Image.open(io.BytesIO(_on_paper("plain"))).convert("L"), np.float32)
    ys, xs = np.mgrid[0 : page.shape[0], 0 : page.shape[1]]
    corner = ((ys - page.shape[0]) ** 2 + (xs - page.shape[1]) ** 2 < 100**2).astype(np.float32)
    shade = 1.0 - 0.5 * ndimage.gaussian_filter(corner, 3)
    plain, shaded = (_as_png_input(a) for a in (page, page * shade))
    assert (shaded - plain).abs().mean() < 0.1


def _in_a_box(box: bool, shape: str = "seven") -> bytes:
    """A fine-pen 7 (or a round 0) 70 pixels high on a 300x380 scan, in a printed box 96x110 when `box`:
    sides shorter than the lines looked for across a page, and in a faint pen the box outweighs the digit."""
    page = Image.new("L", (300, 380), 250)
    draw = ImageDraw.Draw(page)
    if box:
        draw.rectangle((52, 75, 148, 185), outline=110, width=2)
    if shape == "seven":
        draw.line([(80, 95), (120, 95), (95, 165)], fill=150, width=2)
    else:
        draw.ellipse((75, 95, 125, 165), outline=150, width=2)
    return encode_image(page, "PNG")


def test_a_printed_box_around_a_digit_is_left_out_and_said() -> None:
    boxed, alone = prepare_upload(_in_a_box(True)), prepare_upload(_in_a_box(False))
    assert any("printed lines" in note for note in boxed.notes)
    # The box kept would frame the 7 in the 20-pixel box: a difference of 0.1 and more.
    assert (boxed.x - alone.x).abs().mean() < 0.03


def test_a_round_zero_is_not_a_box() -> None:
    zero = prepare_upload(_in_a_box(False, "zero"))
    assert zero.notes == ()
    ink = zero.x[0, 0].numpy() > 0.1
    assert (ndimage.binary_fill_holes(ink) & ~ink).sum() > 50  # its loop is there


def _scan(size: int, resample: Image.Resampling, reduce: int = 1, filled: bool = False) -> bytes:
    """A test digit reduced to 8x8 as a low-resolution scan is, enlarged to `size` with `resample`, dark on
    white (box-reduced by `reduce` after, as a large upload is before preprocessing); `filled`: the digit
    fills the scan, its strokes dark, as UCI's do."""
    written = _written_digit(60, 0.12, "even", filled=filled)
    digit = Image.fromarray(written).resize((8, 8), Image.Resampling.BOX)
    return encode_image(digit.resize((size * reduce, size * reduce), resample).reduce(reduce), "PNG")


@given(size=st.integers(40, 400), reduce=st.sampled_from([1, 2]))
@settings(max_examples=20, deadline=None)
def test_a_scan_enlarged_by_repeating_pixels_is_read_as_if_enlarged_smoothly(size: int, reduce: int) -> None:
    blocky = prepare_upload(_scan(size, Image.Resampling.NEAREST, reduce))
    smooth = preprocess_upload(_scan(size, Image.Resampling.BICUBIC))
    assert any("enlarged from about 8x8 pixels" in note for note in blocky.notes)
    # Not the mosaic of squares (0.04 and more from the bicubic enlargement, at every size from 40 to 400):
    # as the bicubic enlargement, but for a pixel's rounding of the grid (at most 0.033).
    assert (blocky.x - smooth).abs().mean() < 0.036


@given(size=st.integers(56, 240))
@settings(max_examples=20, deadline=None)
def test_a_scan_enlarged_bilinearly_is_read_as_if_enlarged_bicubically(size: int) -> None:
    """(Enlarged 30 times and more, even the darkest stroke bends its slopes by no more than Pillow's
    rounding; 7 times and less, the grid is known too roughly to come this close.)"""
    bilinear = prepare_upload(_scan(size, Image.Resampling.BILINEAR, filled=True))
    bicubic = preprocess_upload(_scan(size, Image.Resampling.BICUBIC, filled=True))
    assert any("enlarged from about 8x8 pixels bilinearly" in note for note in bilinear.notes)
    # Read as it is, the bilinear scan differs from the bicubic one by 0.02 and more; here by at most 0.013.
    assert (bilinear.x - bicubic).abs().mean() < 0.016


@given(size=st.integers(40, 240), margin=st.integers(1, 60))
@settings(max_examples=10, deadline=None)
def test_a_bilinear_scan_on_a_larger_page_is_found(size: int, margin: int) -> None:
    """The page's border bends the bilinear slopes too, off their grid."""
    page = Image.new("L", (size + 2 * margin, size + margin), 255)
    page.paste(Image.open(io.BytesIO(_scan(size, Image.Resampling.BILINEAR, filled=True))), (margin, margin))
    assert any("pixels bilinearly" in note for note in prepare_upload(encode_image(page, "PNG")).notes)


@given(size=st.integers(40, 400))
@settings(max_examples=10, deadline=None)
def test_images_not_enlarged_by_repeating_pixels_are_left_as_they_are(size: int) -> None:
    drawn = encode_image(Image.fromarray(_written_digit(size, 0.1, "gradient")), "PNG")
    for data in (_scan(size, Image.Resampling.BICUBIC), drawn):
        assert not any("enlarged" in note for note in prepare_upload(data).notes)


def test_a_serif_h_is_not_taken_for_an_enlargement() -> None:
    """All its strokes are straight and its edges lie on a grid, of blocks twice as tall as they are wide."""
    image = Image.new("L", (152, 152), 255)
    draw = ImageDraw.Draw(image)
    for left, right in ((42, 62), (78, 99)):
        draw.rectangle((left + 7, 35, right - 7, 89), fill=0)
        draw.rectangle((left, 35, right, 38), fill=0)
        draw.rectangle((left, 86, right, 89), fill=0)
    draw.rectangle((49, 58, 92, 61), fill=0)
    assert prepare_upload(encode_image(image, "PNG")).notes == ()
