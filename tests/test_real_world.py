"""Real digits as they arrive from outside (training/real_world.py), printed lines and partial digits
(training/fragments.py, training/paper.py) and the measurement-only kinds (training/unseen_digits.py): each
renderer is reproducible, gives a readable image of its kind, and the detector's training never sees the
measurement-only kinds."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training import fragments, outliers, paper, real_world, unseen_digits
from training.data import Split
from training.photos import photo_rng

ROOT = Path(__file__).resolve().parents[1]
PER_KIND = 3


def _decoded(data: bytes) -> np.ndarray:
    """The upload as grey levels 0 to 1."""
    image = Image.open(io.BytesIO(data))
    assert image.format in ("PNG", "JPEG")
    return np.asarray(image.convert("L"), np.float32) / 255


def _digits(split: Split, kind: str = "") -> tuple[np.ndarray, np.ndarray]:
    allowed = np.flatnonzero(real_world.eligible(kind, split.test_labels))[:PER_KIND]
    return split.test_images[allowed], split.test_labels[allowed]


@pytest.mark.parametrize("kind", list(real_world.KINDS))
def test_each_kind_is_seeded_per_image_and_dark_on_light(kind: str, offline_split: Split) -> None:
    images, labels = _digits(offline_split, kind)
    render = real_world.KINDS[kind]
    files = real_world.render_set(render, kind, images, labels, range(len(images)), seed=0)
    assert files == real_world.render_set(render, kind, images, labels, range(len(images)), seed=0)
    assert files[1:] == real_world.render_set(render, kind, images, labels, [1, 2], seed=0)
    assert files[0] != real_world.render_set(render, kind, images, labels, [0], seed=1)[0]
    for data in files:
        page = _decoded(data)
        assert min(page.shape) >= 48 and np.median(page) > 0.25  # paper, however lit, around darker ink
        assert page.min() < np.median(page) - 0.15


def test_thick_pen_strokes_are_a_sixth_to_a_third_of_the_digit(offline_split: Split) -> None:
    for i, digit in enumerate(offline_split.test_images[:8]):
        ink = _decoded(real_world.thick_pen(digit, 0, photo_rng(0, "thick pen", i))) < 0.5
        rows = np.flatnonzero(ink.any(axis=1))
        share = real_world.stroke_width(ink) / (rows[-1] - rows[0] + 1)
        assert 1 / 6 * 0.75 <= share <= 1 / 3 * 1.15, (i, share)
        # The digit fills the image: a margin of at most 12% of its height (and rounding) on each side.
        assert rows[0] <= 0.15 * len(rows) and ink.shape[0] - 1 - rows[-1] <= 0.15 * len(rows)


def test_low_resolution_is_blocks_of_an_8_to_16_pixel_scan() -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    for i in range(6):
        page = _decoded(real_world.low_resolution(digit, 1, photo_rng(0, "low resolution", i)))
        assert max(page.shape) >= 64 and page.max() > 0.9 and page.min() < 0.5
        # A nearest-neighbour enlargement repeats rows; a bilinear one has few distinct rows still.
        assert len(np.unique(page.round(2), axis=0)) < max(page.shape)


def test_squared_paper_has_lines_at_a_fixed_pitch() -> None:
    for i in range(4):
        rng = photo_rng(0, "sheet", i)
        page = paper.sheet("squared", rng, (480, 640), 100.0, (190.0, 280.0, 290.0, 350.0), max_tilt=0.0)
        rows = np.flatnonzero(page.mean(axis=(1, 2)) < np.median(page) - 0.02)
        starts = rows[np.diff(rows, prepend=-10) > 1]  # the first row of each line
        pitches = np.diff(starts)
        assert len(pitches) >= 2 and np.ptp(pitches) <= 1
        assert 30 - 1 <= pitches.mean() <= 100 + 1
        columns = np.flatnonzero(page.mean(axis=(0, 2)) < np.median(page) - 0.02)
        assert len(columns) >= 2 * len(starts) - 2  # squares: as many columns as rows, per pixel


def test_ruled_paper_has_only_horizontal_lines_and_maybe_a_margin() -> None:
    rng = photo_rng(0, "ruled", 0)
    page = paper.sheet("ruled", rng, (480, 640), 60.0, (200.0, 300.0, 260.0, 340.0), max_tilt=0.0)
    grey = page.mean(axis=2)
    assert (grey.mean(axis=1) < np.median(grey) - 0.02).sum() >= 5
    assert (grey.mean(axis=0) < np.median(grey) - 0.02).sum() <= 4  # at most a margin line


def test_boxed_digits_are_inside_a_printed_box(offline_split: Split) -> None:
    rng = photo_rng(0, "boxed sheet", 0)
    box = (100.0, 100.0, 160.0, 140.0)
    page = paper.sheet("boxed", rng, (260, 240), 60.0, box, max_tilt=0.0).mean(axis=2)
    dark_rows = np.flatnonzero((page < 0.8).sum(axis=1) > 20)
    assert dark_rows.min() < box[0] and dark_rows.max() > box[2]
    with pytest.raises(ValueError, match="unknown paper"):
        paper.sheet("papyrus", rng, (10, 10), 5.0, (1.0, 1.0, 2.0, 2.0))


def test_european_ones_get_a_flag_and_sevens_a_bar(offline_split: Split) -> None:
    for label in (1, 7):
        added_ink, places = [], []
        for i, digit in enumerate(offline_split.test_images[offline_split.test_labels == label][:6]):
            written = real_world.europeanised(digit, label, photo_rng(0, "european", i))
            assert (written >= digit).all()
            added = (written.astype(int) - digit) > 64
            added_ink.append(added.sum())
            rows = np.flatnonzero((digit > 127).any(axis=1))
            if added.any():
                ys, xs = np.nonzero(added)
                # A flag: at the top, left of the stem's top; a bar: in the middle of the height.
                top = (ys.mean() - rows[0]) / (rows[-1] - rows[0])
                places.append(
                    top < 0.35 and xs.mean() < np.nonzero(digit[rows[0] : rows[0] + 2] > 127)[1].mean()
                    if label == 1
                    else 0.3 < top < 0.75
                )
        assert np.median(added_ink) >= 8 and all(places) and len(places) >= 5, (label, added_ink, places)
    with pytest.raises(ValueError, match="European"):
        real_world.europeanised(offline_split.test_images[0], 3, photo_rng(0, "european", 0))


def test_partial_digits_keep_less_than_two_fifths_of_the_ink(offline_split: Split) -> None:
    for i, digit in enumerate(offline_split.test_images[::50]):
        fragment = fragments.partial(digit, photo_rng(0, "partial", i))
        share = fragment.astype(float).sum() / digit.astype(float).sum()
        assert 0.05 < share < 0.4 and (fragment <= digit).all(), (i, share)
    data = fragments.partial_digit(offline_split.test_images[0], 0, photo_rng(0, "partial digits", 0))
    assert data == fragments.partial_digit(offline_split.test_images[0], 0, photo_rng(0, "partial digits", 0))


def test_printed_lines_are_blank_paper_with_lines() -> None:
    for i in range(4):
        data = fragments.printed_lines(np.random.default_rng([0, i]))
        assert data == fragments.printed_lines(np.random.default_rng([0, i]))
        page = _decoded(data)
        assert min(page.shape) >= 48 and np.median(page) > 0.3


def test_measurement_only_kinds_render_digits() -> None:
    fonts = unseen_digits.handwriting_fonts()
    if fonts:
        draw = unseen_digits.font_digits(fonts[:2])
        rng = np.random.default_rng(0)
        pages = [_decoded(draw(rng)) for _ in range(3)]
        assert all(np.median(page) > 0.9 and page.min() < 0.3 for page in pages)
    uci = unseen_digits.uci_digits()
    if uci is not None:
        images, labels = uci
        assert (
            images.shape[1:] == (8, 8)
            and images.min() >= 0
            and images.max() <= 1
            and set(labels) == set(range(10))
        )
        assert _decoded(unseen_digits.enlarged_uci(images[0], 0, np.random.default_rng(0))).min() < 0.2
    if not fonts and uci is None:
        pytest.skip("neither handwriting fonts nor scikit-learn installed")


def _imported_modules(module: str, seen: set[str]) -> set[str]:
    """The project modules `module` imports, at any depth."""
    path = ROOT / (module.replace(".", "/") + ".py")
    if module in seen or not path.exists():
        return seen
    seen.add(module)
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name.split(".")[0] in ("training", "model"):
                _imported_modules(name, seen)
    return seen


def test_the_detector_training_never_reaches_the_measurement_only_kinds(
    offline_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "training.unseen_digits" not in _imported_modules("training.calibrate", set())
    assert "training.unseen_digits" in _imported_modules("training.ood_report", set())  # the check can fail

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a measurement-only kind was used to train the detector")

    for name in ("handwriting_fonts", "font_digits", "uci_digits", "enlarged_uci"):
        monkeypatch.setattr(unseen_digits, name, forbidden)
    images, labels = offline_split.train_images[::300], offline_split.train_labels[::300]
    assert len(outliers.real_world_renders(images, labels, seed=0, n=1)) == len(real_world.KINDS)
    assert len(outliers.partial_digits(images, labels, seed=0, n=2)) == 2
    assert len(outliers.handwritten_digits(images, labels, seed=0, n=2)) == 2
    assert len(outliers.digit_renders(images, seed=0, n=1)) == 3


def test_european_versions_rewrite_only_the_ones_and_sevens(offline_split: Split) -> None:
    images, labels = offline_split.train_images[::50], offline_split.train_labels[::50]
    written = real_world.european_versions(images, labels, seed=0)
    changed = (written != images).any(axis=(1, 2))
    assert np.array_equal(changed, np.isin(labels, (1, 7)))
    np.testing.assert_array_equal(written, real_world.european_versions(images, labels, seed=0))
