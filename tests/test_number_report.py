"""training/number_report.py: cut digits framed as MNIST frames them, the one-hand ratio, the report."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from model.classifier import ClassifierConfig, DigitClassifier
from model.config import CVAEConfig
from model.cvae import CVAE
from model.legibility import LegibilityNet, foreseen
from training.number_report import LENGTHS, framed, number_report, number_text, one_hand_ratio


def test_a_cut_digit_is_framed_by_its_centre_of_mass() -> None:
    image = np.zeros((28, 60), dtype=np.uint8)
    image[5:15, 40:46] = 255
    frame = framed(image, [40, 5, 46, 15])
    assert frame.shape == (28, 28) and frame.sum() == image.sum()
    rows, columns = np.nonzero(frame)
    assert abs(rows.mean() - 13.5) <= 1 and abs(columns.mean() - 13.5) <= 1


def test_a_box_too_close_to_the_edge_stays_inside_the_frame() -> None:
    image = np.zeros((28, 40), dtype=np.uint8)
    image[0:28, 3:30] = 255
    image[0:4, 3:30] = 0
    frame = framed(image, [3, 4, 30, 28])
    assert frame.sum() == image.sum()


def test_number_texts_are_repeatable_digits_of_the_lengths_asked() -> None:
    texts = [number_text(0, i) for i in range(200)]
    assert texts == [number_text(0, i) for i in range(200)]
    assert texts != [number_text(1, i) for i in range(200)]
    assert {len(text) for text in texts} == set(range(LENGTHS[0], LENGTHS[1] + 1))
    assert all(text.isdigit() for text in texts)


def test_the_one_hand_ratio_is_low_for_clustered_encodings_and_near_one_for_mixed() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (50, 8))
    owner = np.repeat(np.arange(50), 4)
    clustered = torch.from_numpy(centres[owner] + rng.normal(0, 0.3, (200, 8)))
    within, across = one_hand_ratio(clustered, torch.from_numpy(owner))
    assert within / across < 0.3
    mixed = torch.from_numpy(rng.normal(0, 3, (200, 8)))
    within, across = one_hand_ratio(mixed, torch.from_numpy(owner))
    assert 0.85 < within / across < 1.15


def test_the_report_counts_every_digit_of_every_number() -> None:
    torch.manual_seed(0)
    cvae = CVAE(CVAEConfig(arch="conv", latent_dim=4, channels=4)).eval()
    classifier = DigitClassifier(ClassifierConfig(channels=4, hidden_dim=8)).eval()
    net = LegibilityNet(4, 10).eval()
    report = number_report(cvae, classifier, partial(foreseen, net), count=12)
    assert report["digits"] == sum(len(number_text(0, i)) for i in range(12))
    assert 0 <= report["read_right"] <= 1 and report["one_hand_ratio"] > 0
    assert report["legibility_network"] and 0 <= report["read_right_each_digit_at_its_first_step"] <= 1
