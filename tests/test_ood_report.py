"""The is_digit report (training/ood_report.py) end to end on the shipped checkpoints at a tiny size, its
kinds for a model of other data, and which outliers the detector of each kind of model is trained on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model.detector import OutlierDetector
from training import calibrate, ood_report, real_world, unseen_digits
from training.data import Split

ROOT = Path(__file__).resolve().parents[1]
PER_KIND = 4


def test_the_report_measures_every_kind_on_the_shipped_model(
    offline_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every tenth test digit (all classes; the odd positions of those are held out): each kind is sent,
    read and scored, and the table has a row and a read-right share for each."""
    small = replace(
        offline_split,
        test_images=offline_split.test_images[::10],
        test_labels=offline_split.test_labels[::10],
    )
    monkeypatch.setattr(ood_report, "load_split", lambda *args: small)
    result = ood_report.measure(
        str(ROOT / "checkpoints" / "cvae-mnist"),
        str(ROOT / "checkpoints" / "digit-classifier"),
        PER_KIND,
        0.02,
        1,
    )
    rows = {row["kind"]: row for row in result["kinds"]}
    for kind in [*real_world.KINDS, "test digits (held out)", "partial digits", "printed-line fragments"]:
        assert rows[kind]["uploads"] == PER_KIND, kind
    for kind, row in rows.items():
        if row.get("skipped"):
            continue
        assert 0 <= row["flagged"] <= 1
        assert (row["read_right"] is not None) == row["digits"], kind
        assert (row["roc_auc"] is None) == row["digits"], kind
    assert rows["noise"]["flagged"] == 1.0 and rows["low resolution"]["read_right"] >= 0.5
    assert result["big_photo_preprocess_ms"]["pixels"] == "4000x3000"
    assert result["big_photo_preprocess_ms"]["median_ms"] > 0
    table = ood_report.markdown(result)
    assert "| read right |" in table and "| squared paper | yes | 4 |" in table and "4000x3000" in table


def test_measurement_only_kinds_are_skipped_with_a_note_when_absent(
    offline_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unseen_digits, "handwriting_fonts", list)
    monkeypatch.setattr(unseen_digits, "uci_digits", lambda: None)
    found = ood_report.digit_kinds(offline_split.test_images[1::2], offline_split.test_labels[1::2], PER_KIND)
    skipped = {name: kind.skipped for name, kind in found.items() if kind.draw is None}
    assert len(skipped) == 2 and all("install" in note for note in skipped.values())
    row = {"kind": "handwriting fonts", "digits": True, "uploads": 0, "skipped": "no font"}
    big = {"pixels": "4000x3000", "runs": 3, "median_ms": 1.0}
    assert "| handwriting fonts | yes | 0 | skipped: no font |" in ood_report.markdown(
        {"kinds": [row], "big_photo_preprocess_ms": big}
    )


def test_for_a_model_of_other_data_handwritten_digits_are_to_be_flagged(
    offline_split: Split, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = ood_report.kinds(offline_split, PER_KIND, digits=offline_split)
    assert found[ood_report.HANDWRITTEN].data is False and found["test images (held out)"].data is True
    assert not set(real_world.KINDS) & set(found) and "partial digits" not in found
    upload = found[ood_report.HANDWRITTEN].draw(np.random.default_rng(0))  # type: ignore[misc]
    assert upload[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0")
    monkeypatch.setattr(ood_report, "load_split", lambda *args: offline_split)
    assert ood_report.model_data({"data": {"name": "mnist"}}) == (offline_split, None)
    monkeypatch.setattr(ood_report, "FASHION_DIR", tmp_path / "absent")
    with pytest.raises(SystemExit, match="dataset-fashion-mnist"):
        ood_report.model_data({"data": {"class_names": ["T-shirt/top", "Trouser"]}})


@pytest.mark.parametrize("augmentation", ["uploads", "objects"])
def test_the_detector_of_a_model_of_other_data_learns_digits_as_outliers(
    augmentation: str, offline_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, int] = {}

    def spy(name: str, real):  # type: ignore[no-untyped-def]
        def called(images: np.ndarray, labels: np.ndarray, seed: int, n: int) -> list[bytes]:
            calls[name] = len(images)
            return real(images, labels, seed, n)

        return called

    for name in ("handwritten_digits", "partial_digits", "real_world_renders"):
        monkeypatch.setattr(calibrate, name, spy(name, getattr(calibrate, name)))
    monkeypatch.setattr(calibrate, "fit_detector", lambda *args: OutlierDetector())
    images, labels = offline_split.train_images[::500], offline_split.train_labels[::500]
    train = torch.zeros(len(images), 1, 28, 28)
    _, record = calibrate.train_detector(train, images, labels, augmentation, 2, seed=0)
    if augmentation == "uploads":
        assert set(calls) == {"partial_digits", "real_world_renders"}
    else:  # the MNIST train split, drawn as uploads, among the outliers
        assert calls == {"handwritten_digits": len(offline_split.train_images)}
    assert record["augmentation"] == augmentation and record["outliers"] > 0


def test_the_report_draws_every_class_from_labels_that_come_sorted() -> None:
    labels = np.repeat(np.arange(10), [5, 7, 3, 6, 6, 6, 6, 6, 6, 6])
    images = np.arange(len(labels))[:, None, None] * np.ones((1, 28, 28), np.int64)
    mixed, mixed_labels = ood_report.interleaved(images, labels)
    assert list(mixed_labels[:10]) == list(range(10))  # the first ten uploads are ten different digits
    assert sorted(mixed[:, 0, 0]) == list(range(len(labels)))  # every image once, still with its own label
    assert (labels[mixed[:, 0, 0]] == mixed_labels).all()
