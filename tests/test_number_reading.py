"""The evaluation harness of the number reader (training/number_reading.py): numbers are composed in order
with the gaps and overlaps asked for, rendered with the right polarity, drawn reproducibly from test digits
only, and scored as the issue counts digits and numbers."""

from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import reading
from model.preprocess import NoInkError
from training import number_reading as nr
from training.commands import number_reading as command
from training.data import Split
from training.photos import FRAME

VALUES = (80, 120, 160, 200, 240)  # a block digit's brightness, one per position


def _block(value: int, width: int = 6) -> np.ndarray:
    """A digit that is a solid bar of one brightness: where it lands in a strip can be seen."""
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[6:22, 14 - width // 2 : 14 + width - width // 2] = value
    return digit


def _blocks() -> np.ndarray:
    return np.stack([_block(value) for value in VALUES])


def _grey(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)


def test_gaps_are_mostly_1_to_10_pixels_and_about_15_percent_small_overlaps() -> None:
    spacings = [nr.Spacing.drawn(8, np.random.default_rng(seed)) for seed in range(300)]
    gaps = np.concatenate([spacing.gaps[1:] for spacing in spacings])
    assert all(spacing.gaps[0] == 0 for spacing in spacings)
    assert set(gaps.tolist()) == {-3, -2, -1, *range(1, 11)}
    assert 0.12 < (gaps < 0).mean() < 0.18
    scales = np.concatenate([spacing.scales for spacing in spacings])
    shifts = np.concatenate([spacing.shifts for spacing in spacings])
    assert 0.9 <= scales.min() < 0.92 and 1.08 < scales.max() <= 1.1
    assert set(shifts.tolist()) == set(range(-2, 3))


@pytest.mark.parametrize("seed", range(6))
def test_a_composed_number_keeps_its_digits_in_order_with_the_drawn_gaps(seed: int) -> None:
    digits = _blocks()
    strip = nr.compose_number(digits, np.random.default_rng(seed))
    spacing = nr.Spacing.drawn(len(digits), np.random.default_rng(seed))
    again, spans = spacing.set(digits)
    assert np.array_equal(strip, again) and strip.dtype == np.uint8
    assert strip.shape == (nr.STRIP_ROWS, spans[-1][1] + nr.MARGIN) and spans[0][0] == nr.MARGIN
    assert not strip[:, : nr.MARGIN].any() and not strip[:, -nr.MARGIN :].any()
    widths = [end - start for start, end in spans]
    for k in range(1, len(spans)):
        limit = -(min(widths[k - 1], widths[k]) // 3)  # a narrow digit never starts before its neighbour
        assert spans[k][0] - spans[k - 1][1] == max(int(spacing.gaps[k]), limit)
    # Each digit's own brightness is found in its span, the spans left to right in the digits' order.
    middles = []
    for value, (start, end) in zip(VALUES, spans, strict=True):
        columns = np.nonzero(np.abs(strip.astype(int) - value) <= 3)[1]
        middles.append(float(np.median(columns)))
        assert start <= middles[-1] < end
    assert middles == sorted(middles)


def test_real_digits_overlap_in_some_numbers_and_keep_all_their_ink(offline_split: Split) -> None:
    rng = np.random.default_rng(0)
    overlapping = 0
    for _ in range(40):
        digits = offline_split.test_images[rng.integers(0, 1000, 6)]
        strip, spans = nr.Spacing.drawn(6, rng).set(digits)
        overlapping += any(spans[k][0] < spans[k - 1][1] for k in range(1, 6))
        # The strip is about the digits' ink: nothing is lost but the overlaps' smaller pixels and the
        # faint columns cut away, give or take the size jitter.
        assert 0.75 < strip.astype(float).sum() / digits.astype(float).sum() < 1.3
    assert 10 <= overlapping < 40


@pytest.mark.parametrize("seed", range(4))
def test_plain_uploads_are_dark_ink_on_white_pngs(seed: int) -> None:
    strip = nr.compose_number(_blocks(), np.random.default_rng(seed))
    data, variant = nr.plain_upload(strip, np.random.default_rng(seed))
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and variant in ("white paper", "near-white paper")
    grey = _grey(data)
    assert np.median(grey) >= 0.88 * 255 - 1 and grey.min() <= 0.25 * 255 + 1
    # Digits 40 to 120 pixels high (their 20-pixel box): the strip's 36 rows at 2 to 6 times.
    dark_rows = np.flatnonzero((grey < 128).any(axis=1))
    assert 16 * 2 - 2 <= dark_rows[-1] - dark_rows[0] + 1 <= 16 * 6 + 2


@pytest.mark.parametrize("seed", range(4))
def test_photographed_uploads_are_jpegs_of_a_frame_with_darker_ink(seed: int) -> None:
    strip = nr.compose_number(_blocks()[:3], np.random.default_rng(seed))
    data, light = nr.photographed_upload(strip, np.random.default_rng(seed))
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.mode == "RGB" and image.size in (FRAME, FRAME[::-1])
    assert light in nr.paper.LIGHTS
    grey = _grey(data)
    assert grey.min() < 0.5 * np.median(grey)


def test_a_long_number_widens_the_photo_and_stays_in_frame() -> None:
    strip = np.zeros((nr.STRIP_ROWS, 600), dtype=np.uint8)
    strip[10:26, 4:-4] = 255  # at the smallest digit height, 1,200 pixels of ink across
    evenly_lit = 0
    for seed in range(8):
        data, light = nr.photographed_upload(strip, np.random.default_rng(seed))
        grey = _grey(data)
        assert grey.shape[1] > max(FRAME)
        if light in ("plain", "colour cast"):  # elsewhere the light alone may darken an edge
            evenly_lit += 1
            columns = np.flatnonzero((grey < 0.5 * np.median(grey)).mean(axis=0) > 0.02)
            assert columns[0] > 5 and columns[-1] < grey.shape[1] - 6
    assert evenly_lit >= 2


@pytest.mark.parametrize("seed", range(8))
def test_service_uploads_are_its_png_white_on_black_or_inverted(seed: int) -> None:
    number = np.zeros((28, 70), dtype=np.uint8)
    number[6:22, 10:60] = 255
    data, variant = nr.service_upload(number, np.random.default_rng(seed))
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "L"
    assert 28 <= image.height <= 112 and abs(image.width - 70 * image.height / 28) <= 1
    grey = _grey(data)
    if variant == "white on black":
        assert grey[0, 0] == grey[-1, -1] == 0 and grey.max() == 255
    else:
        assert variant == "dark on white" and grey[0, 0] == grey[-1, -1] == 255 and grey.min() == 0


def test_service_uploads_come_at_its_default_height_or_larger_and_half_inverted() -> None:
    number = np.zeros((28, 40), dtype=np.uint8)
    uploads = [nr.service_upload(number, np.random.default_rng(seed)) for seed in range(60)]
    heights = [Image.open(io.BytesIO(data)).height for data, _ in uploads]
    assert 20 <= heights.count(28) <= 40 and max(heights) > 56
    assert 20 <= [variant for _, variant in uploads].count("dark on white") <= 40


def _labelled_split() -> Split:
    """Test digits labelled 0 to 4 and training digits labelled 5 to 9: a number showing a 5 to 9 would
    have been made of a training digit."""
    rng = np.random.default_rng(0)
    test_labels = rng.integers(0, 5, 50)
    train_labels = rng.integers(5, 10, 50)
    test = np.stack([_block(60 + 30 * int(label), width=3 + int(label)) for label in test_labels])
    train = np.stack([_block(255, width=12) for _ in train_labels])
    return Split("labelled", train, train_labels, test, test_labels, "none")


def _fake_writer(text: str, seed: int) -> np.ndarray:
    """A stand-in for the service: a bar per digit, the seed in the first column."""
    image = np.zeros((28, 8 * len(text) + 8), dtype=np.uint8)
    for k in range(len(text)):
        image[6:22, 6 + 8 * k : 10 + 8 * k] = 255
    image[0, 0] = seed % 256
    return image


def test_test_numbers_are_made_of_test_digits_only_and_drawn_again_alike() -> None:
    split = _labelled_split()
    material = nr.Material.of(split, _fake_writer)
    counts = {nr.MIXED: 40, nr.FOUR_DIGITS: 5}
    uploads = list(nr.number_uploads(("plain",), counts, 3, material))
    mixed = [upload for upload in uploads if upload.group == nr.MIXED]
    assert {len(upload.digits) for upload in mixed} == set(range(2, 9))
    assert all(len(upload.digits) == 4 for upload in uploads if upload.group == nr.FOUR_DIGITS)
    for upload in uploads:
        assert all(0 <= i < len(split.test_images) for i in upload.sources)
        assert upload.digits == tuple(int(split.test_labels[i]) for i in upload.sources)
        assert max(upload.digits) < 5
    assert uploads == list(nr.number_uploads(("plain",), counts, 3, material))
    assert [u.data for u in uploads] != [u.data for u in nr.number_uploads(("plain",), counts, 4, material)]
    # A number is drawn from its own generator: alone, it is the same bytes.
    for kind in nr.KINDS:
        alone = nr.number_upload(kind, nr.FOUR_DIGITS, 2, 3, material)
        assert alone == list(nr.number_uploads((kind,), {nr.FOUR_DIGITS: 3}, 3, material))[2]
    service = nr.number_upload("service", nr.MIXED, 0, 3, material)
    assert service.sources == () and service.variant in ("white on black", "dark on white")


def test_the_real_material_is_the_fixed_splits_test_digits(offline_split: Split) -> None:
    material = nr.Material.of(offline_split)
    assert material.images is offline_split.test_images and material.labels is offline_split.test_labels
    with pytest.raises(ValueError, match="writer"):
        nr.number_upload("service", nr.MIXED, 0, 0, material)
    with pytest.raises(ValueError, match="unknown kind"):
        nr.number_upload("scanned", nr.MIXED, 0, 0, material)


def test_the_service_writer_writes_numbers_as_number_report_does(tiny_checkpoints: tuple[Path, Path]) -> None:
    write = nr.service_writer(*tiny_checkpoints)
    image = write("2026", 5)
    assert image.dtype == np.uint8 and image.shape[0] == 28 and image.shape[1] > 4 * 4
    assert np.array_equal(image, write("2026", 5))


def _uploads() -> list[nr.NumberUpload]:
    """Numbers of lengths 2 to 8 and 4, without rendering: a fake reader looks their digits up."""
    texts = {
        nr.MIXED: ["12", "345", "6789", "01234", "567890", "1234567", "89012345"],
        nr.FOUR_DIGITS: ["2026"],
    }
    return [
        nr.NumberUpload(kind, group, i, tuple(map(int, text)), f"{kind}/{group}/{i}".encode(), "v")
        for kind in ("plain", "service")
        for group, group_texts in texts.items()
        for i, text in enumerate(group_texts)
    ]


def test_edit_distance() -> None:
    assert nr.edit_distance([1, 2, 3, 4], [1, 2, 3, 4]) == 0
    assert nr.edit_distance([1, 2, 3, 4], [1, 2, 3]) == 1
    assert nr.edit_distance([1, 2, 3, 4], [1, 2, 9, 3, 4]) == 1
    assert nr.edit_distance([1, 2, 3, 4], [2, 1, 3, 4]) == 2
    assert nr.edit_distance([1, 2], []) == 2 and nr.edit_distance([], [5]) == 1


def test_a_perfect_reader_scores_one() -> None:
    uploads = _uploads()
    truth = {upload.data: list(upload.digits) for upload in uploads}
    results = nr.evaluate(truth.__getitem__, uploads)
    assert set(results) == {"plain", "service"} and set(results["plain"]) == {nr.MIXED, nr.FOUR_DIGITS}
    for groups in results.values():
        for row in groups.values():
            assert row["digit_accuracy"] == row["number_accuracy"] == 1.0
            assert row["wrong_count"] == 0.0 and row["refused"] == 0 and row["failures"] == []
    assert results["plain"][nr.MIXED]["numbers"] == 7 and results["plain"][nr.MIXED]["digits"] == 35
    assert set(results["plain"][nr.MIXED]["by_length"]) == {str(n) for n in range(2, 9)}


@pytest.mark.parametrize("change", ["drop the last", "add one", "change the last"])
def test_one_digit_wrong_in_every_number_costs_one_digit_each(change: str) -> None:
    uploads = _uploads()
    truth = {upload.data: list(upload.digits) for upload in uploads}
    edits = {
        "drop the last": lambda digits: digits[:-1],
        "add one": lambda digits: [*digits, 7],
        "change the last": lambda digits: [*digits[:-1], (digits[-1] + 1) % 10],
    }
    results = nr.evaluate(lambda data: edits[change](truth[data]), uploads)
    mixed, four = results["plain"][nr.MIXED], results["plain"][nr.FOUR_DIGITS]
    assert mixed["digit_accuracy"] == round((35 - 7) / 35, 4) and four["digit_accuracy"] == 0.75
    assert mixed["number_accuracy"] == four["number_accuracy"] == 0.0
    assert mixed["wrong_count"] == four["wrong_count"] == (0.0 if change == "change the last" else 1.0)
    assert mixed["by_length"]["2"]["digit_accuracy"] == 0.5
    failure = four["failures"][0]
    assert failure["true"] == "2026" and failure["read"] == "".join(map(str, edits[change]([2, 0, 2, 6])))
    assert len(mixed["failures"]) == nr.FAILURES_KEPT


def test_an_upload_refused_reads_as_nothing_and_other_errors_are_not_hidden() -> None:
    uploads = _uploads()

    def refuse(data: bytes) -> list[int]:
        raise NoInkError("no ink")

    results = nr.evaluate(refuse, uploads)
    row = results["service"][nr.MIXED]
    assert row["digit_accuracy"] == row["number_accuracy"] == 0.0 and row["wrong_count"] == 1.0
    assert row["refused"] == 7 and row["failures"][0]["read"] is None

    def broken(data: bytes) -> list[int]:
        raise ValueError("a bug in the reader")

    with pytest.raises(ValueError, match="a bug"):
        nr.evaluate(broken, uploads)


def test_targets_and_the_table() -> None:
    uploads = _uploads()
    truth = {upload.data: list(upload.digits) for upload in uploads}
    results = nr.evaluate(lambda data: truth[data][:-1] if b"service" in data else truth[data], uploads)
    verdicts = {(row["kind"], row["set"], row["measure"]): row["met"] for row in nr.targets(results)}
    assert verdicts[("plain", nr.MIXED, "digit_accuracy")] is True
    assert verdicts[("plain", nr.FOUR_DIGITS, "number_accuracy")] is True
    assert verdicts[("service", nr.MIXED, "digit_accuracy")] is False
    assert verdicts[("photographed", nr.MIXED, "digit_accuracy")] is None  # not run
    table = nr.markdown_table(results)
    assert f"| plain, {nr.MIXED} | 7 | 100.0% | 100.0% | 0.0% | 0 |" in table
    assert f"| service, {nr.FOUR_DIGITS} | 1 | 75.0% | 0.0% | 100.0% | 0 |" in table


def test_a_reader_that_is_not_there_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match=r"no module model\.no_such_reader"):
        nr.load_reader("model.no_such_reader:read_digits")
    with pytest.raises(SystemExit, match="has no function read_digits"):
        nr.load_reader("json:read_digits")
    with pytest.raises(SystemExit, match="MODULE:FUNCTION"):
        nr.load_reader("json")
    with pytest.raises(SystemExit, match="no module"):
        command.main(["--reader", "model.no_such_reader:read_digits"])
    monkeypatch.setitem(sys.modules, "fake_reader", types.SimpleNamespace(read=lambda data: [1]))
    assert nr.load_reader("fake_reader:read")(b"") == [1]


def test_a_reader_that_takes_a_classifier_is_given_the_one_asked_for(
    tiny_checkpoints: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def read(data: bytes, classifier: torch.nn.Module) -> list[int]:
        return [id(classifier)]

    monkeypatch.setitem(sys.modules, "fake_reader", types.SimpleNamespace(read=read))
    classifier = nr.load_classifier(tiny_checkpoints[1])
    assert nr.load_reader("fake_reader:read", lambda: classifier)(b"") == [id(classifier)]
    # One that does not take a classifier is not given one (nor is one loaded).
    monkeypatch.setitem(sys.modules, "fake_reader", types.SimpleNamespace(read=lambda data: [1]))
    assert nr.load_reader("fake_reader:read", lambda: pytest.fail("loaded"))(b"") == [1]
    # One that takes an ood_score is given the one asked for; the tiny model has no calibration: None.
    monkeypatch.setitem(
        sys.modules, "fake_reader", types.SimpleNamespace(read=lambda data, ood_score: [ood_score])
    )
    assert nr.load_reader("fake_reader:read", ood_score=lambda: len)(b"") == [len]
    assert nr.load_ood_score(*tiny_checkpoints) is None


def test_the_command_writes_the_report_and_the_montage(
    offline_split: Split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fake_reader", types.SimpleNamespace(read=lambda data: [1, 2, 3, 4]))
    output, montage = tmp_path / "report.json", tmp_path / "failures.png"
    argv = ["--per-kind", "2", "--four-digit", "1", "--reader", "fake_reader:read", "--output", str(output)]
    assert command.main([*argv, "--montage", str(montage), "--check"]) == 1  # the targets are missed
    report = json.loads(output.read_text())
    assert set(report["kinds"]) == set(nr.KINDS) and report["reader"] == "fake_reader:read"
    assert report["kinds"]["plain"][nr.MIXED]["numbers"] == 2
    assert all(target["met"] is False for target in report["targets"])
    shown = json.loads(montage.with_suffix(".json").read_text())
    assert len(shown) >= 6 and Image.open(montage).format == "PNG"


def test_the_command_draws_numbers_read_back(offline_split: Split, tmp_path: Path) -> None:
    figure = tmp_path / "reading.png"
    argv = ["--per-kind", "1", "--four-digit", "1", "--output", str(tmp_path / "report.json")]
    # Without --check, a missed target is no error.
    assert command.main([*argv, "--examples", str(figure)]) == 0
    image = Image.open(figure)
    assert image.format == "PNG" and image.height > 4 * 14
    # The boxes are drawn in red, where the reader found digits.
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    assert ((pixels[:, 0] > 180) & (pixels[:, 1] < 80) & (pixels[:, 2] < 80)).sum() > 100


def test_read_number_gives_each_digit_its_box(offline_split: Split) -> None:
    classifier = nr.load_classifier(nr.DEFAULT_CLASSIFIER)
    material = nr.Material.of(offline_split)
    upload = nr.number_upload("plain", nr.FOUR_DIGITS, 0, 0, material)
    read = reading.read_number(upload.data, classifier)
    width, height = Image.open(io.BytesIO(upload.data)).size
    assert [digit for digit, _ in read] == reading.read_digits(upload.data, classifier)
    lefts = [box[0] for _, box in read]
    assert lefts == sorted(lefts)
    assert all(0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height for _, (x0, y0, x1, y1) in read)
