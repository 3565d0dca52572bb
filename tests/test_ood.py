"""is_digit / ood_score: the calibration code, the CLI that stores it, the answers through the HTTP API."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from app_support import tiny_settings
from browser_support import shipped_settings
from fastapi.testclient import TestClient

from app.main import create_app
from app.service import load_calibration
from model.bounds import fixed_noise
from model.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_tensors,
    read_config,
    save_checkpoint,
    write_config,
)
from model.classifier import DigitClassifier
from model.config import ClassifierConfig
from model.cvae import CVAE
from model.detector import PREFIX, OutlierDetector
from model.ood import (
    FEATURES,
    NEEDS_ELBO,
    SCORED,
    STATS_FILE,
    Calibration,
    ClassGaussians,
    calibrate,
    gather_evidence,
    ood_features,
)
from training.calibrate import as_uploads, preprocessed
from training.commands import arguments
from training.commands import calibrate as calibrate_cli
from training.data import Split
from training.ood_data import REPORT_FONTS, digit_png, font_files, letters, noise, shapes, uploads
from training.ood_report import roc_auc
from training.outliers import fit_detector

GAUSSIANS = ClassGaussians(torch.zeros(2, 3), torch.eye(3))
DETECTOR = OutlierDetector(channels=2, hidden_dim=4)


def gaussian_features(n: int, seed: int, shift: float = 0.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randn(n, generator=g, dtype=torch.float64) + shift for name in FEATURES}


def calibrated(features: dict[str, torch.Tensor]) -> Calibration:
    return calibrate(features, GAUSSIANS, DETECTOR, "0" * 64)


def test_threshold_flags_at_most_the_rate_of_the_calibration_data() -> None:
    features = gaussian_features(1000, 0)
    calibration = calibrated(features)
    scores = calibration.score(features)
    for rate in (0.01, 0.02, 0.1, 0.5):
        flagged = (scores > calibration.threshold(rate)).double().mean().item()
        assert rate - 0.002 <= flagged <= rate
    assert calibration.threshold(0.0) == math.inf


def test_standardised_by_median_and_upper_quartile_and_the_scored_features_decide() -> None:
    calibration = calibrated(gaussian_features(20_000, 1))
    for median, spread in calibration.scales.values():
        assert abs(median) < 0.03 and abs(spread - 0.674) < 0.03  # a normal's median and upper quartile
    one_odd = {name: torch.zeros(1, dtype=torch.float64) for name in FEATURES} | {
        "detector": torch.full((1,), 10.0, dtype=torch.float64)
    }
    median, spread = calibration.scales["detector"]
    assert calibration.score(one_odd).item() == pytest.approx((10.0 - median) / spread)
    assert calibration.score(one_odd).item() > calibration.threshold(0.02)
    # A feature that is calibrated and measured but not scored does not move the verdict.
    unscored = next(name for name in FEATURES if name not in SCORED)
    far = one_odd | {unscored: torch.full((1,), 1e6, dtype=torch.float64)}
    assert calibration.score(far).item() == calibration.score(one_odd).item()


def test_a_feature_constant_on_real_data_still_counts_when_it_moves() -> None:
    features = gaussian_features(500, 6) | {"detector": torch.zeros(500, dtype=torch.float64)}
    calibration = calibrated(features)
    moved = {name: torch.zeros(1, dtype=torch.float64) for name in FEATURES} | {
        "detector": torch.full((1,), 0.5, dtype=torch.float64)
    }
    assert calibration.score(moved).item() > calibration.threshold(0.02)


def test_class_gaussians_measure_distance_to_the_nearest_class() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(2000)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    embedding = centres[labels] + torch.randn(6000, 2, generator=g) * torch.tensor([1.0, 3.0])
    gaussians = ClassGaussians.fit(embedding, labels, 3)
    assert torch.allclose(gaussians.means, centres, atol=0.2)
    # Shared covariance diag(1, 9): 3 along the second axis is as far as 1 along the first.
    near = gaussians.distance(torch.tensor([[10.0, 3.0], [1.0, 0.0], [5.0, 5.0]]))
    assert near[0] == pytest.approx(1.0, rel=0.1) and near[1] == pytest.approx(1.0, rel=0.1)
    assert near[2] > 10


def test_held_out_data_of_another_distribution_is_flagged() -> None:
    calibration = calibrated(gaussian_features(1000, 2))
    same, shifted = gaussian_features(1000, 3), gaussian_features(1000, 4, shift=4.0)
    threshold = calibration.threshold(0.02)
    assert (calibration.score(same) > threshold).double().mean() < 0.05
    assert (calibration.score(shifted) > threshold).double().mean() > 0.95


def test_calibration_survives_json_and_refuses_unknown_features() -> None:
    calibration = calibrated(gaussian_features(200, 5))
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())), calibration.to_tensors())
    assert again.scales == calibration.scales
    assert again.threshold(0.02) == pytest.approx(calibration.threshold(0.02), abs=1e-4)
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(again.detector(x), DETECTOR.eval()(x))
    bad = calibration.to_dict()
    bad["features"]["colour"] = {"median": 0.0, "spread": 1.0}
    with pytest.raises(ValueError, match="colour"):
        Calibration.from_dict(bad, calibration.to_tensors())
    with pytest.raises(ValueError, match="no outlier detector"):
        Calibration.from_dict(calibration.to_dict(), GAUSSIANS.to_tensors())


def test_ood_features_computes_only_the_features_asked_for(cvae: CVAE) -> None:
    """The service asks for SCORED alone: each feature asked for is the one the full set holds, and nothing
    else is computed (no CVAE pass, no Gaussians, no ELBO unless a feature of NEEDS_ELBO is asked for)."""
    classifier = DigitClassifier(ClassifierConfig()).eval()
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    evidence = gather_evidence(cvae, classifier, x, fixed_noise(cvae.cfg.latent_dim))
    width = evidence.embedding.shape[1]
    gaussians = ClassGaussians(torch.zeros(10, width), torch.eye(width))
    full = ood_features(cvae, evidence, gaussians, DETECTOR)
    assert list(full) == list(FEATURES)
    without_elbo = replace(evidence, elbo=None)
    asked = [name for name in FEATURES if name not in NEEDS_ELBO]
    some = ood_features(cvae, without_elbo, gaussians, DETECTOR, asked)
    assert list(some) == asked and all(torch.equal(some[name], full[name]) for name in asked)
    with pytest.raises(ValueError, match="elbo_gap"):
        ood_features(cvae, without_elbo, gaussians, DETECTOR, sorted(NEEDS_ELBO))
    scored = ood_features(None, without_elbo, None, DETECTOR, SCORED)  # type: ignore[arg-type]
    assert list(scored) == list(SCORED) and all(torch.equal(scored[name], full[name]) for name in SCORED)


def test_the_detector_learns_an_outlier_kind_from_tiny_data_in_seconds(tiny_split: Split) -> None:
    digits = as_uploads(tiny_split.train_images[:200])[0]
    others = preprocessed(uploads(noise, 200, [5, 0]))[0]
    detector = fit_detector(digits[:150], others[:150], seed=0, epochs=3)
    with torch.inference_mode():
        assert roc_auc(detector(digits[150:]), detector(others[150:])) > 0.95


def test_the_same_seed_trains_the_same_detector() -> None:
    g = torch.Generator().manual_seed(0)
    positives, negatives = (
        0.5 * torch.rand(64, 1, 28, 28, generator=g),
        torch.rand(64, 1, 28, 28, generator=g),
    )
    first, again, other = (fit_detector(positives, negatives, seed, epochs=1) for seed in (3, 3, 4))
    assert first.to_tensors().keys() == again.to_tensors().keys()
    assert all(torch.equal(v, again.to_tensors()[k]) for k, v in first.to_tensors().items())
    assert not torch.equal(
        first.to_tensors()[PREFIX + "members.0.0.weight"], other.to_tensors()[PREFIX + "members.0.0.weight"]
    )


def test_cvae_calibrate_stores_the_calibration_the_service_reads(
    tiny_checkpoints: tuple[Path, Path], tiny_split: Split, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    checkpoint, classifier = tiny_checkpoints
    copy = tmp_path / "calibrated"
    copy.mkdir()
    for file in checkpoint.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    monkeypatch.setattr(arguments, "load_split", lambda *args: tiny_split)
    calibrate_cli.main(
        [str(copy), "--classifier", str(classifier), "--exposure", "10", "--detector-channels", "8"]
    )
    config = read_config(copy)
    ood = config["ood"]
    assert ood["calibration_images"] + ood["check_images"] == len(tiny_split.test_images)
    assert set(ood["features"]) == set(FEATURES) and len(ood["scores"]) == ood["calibration_images"]
    tensors = load_tensors(copy, STATS_FILE, config)
    assert ood["detector"]["augmentation"] == "uploads" and ood["detector"]["channels"] == 8
    assert (
        tensors[PREFIX + "members.0.0.weight"].shape[0] == 8
    )  # the width asked for, read back by the service

    settings = tiny_settings((copy, classifier))
    with TestClient(create_app(settings)) as client:
        card = client.get("/v1/model").json()["ood"]
        assert card["threshold"] == pytest.approx(Calibration.from_dict(ood, tensors).threshold(0.02))
        answer = client.post("/v1/encode", files={"file": digit_png(tiny_split.test_images[0])}).json()
        assert isinstance(answer["is_digit"], bool) and isinstance(answer["ood_score"], float)
    strict = tiny_settings((copy, classifier), ood_flag_rate=0.5)
    with TestClient(create_app(strict)) as client:
        assert client.get("/v1/model").json()["ood"]["threshold"] < card["threshold"]
    # Served with a classifier other than the one it was calibrated with: no verdict rather than a wrong one.
    other = tmp_path / "other-classifier"
    save_checkpoint(other, DigitClassifier(ClassifierConfig(channels=4, hidden_dim=8)), {"name": "other"})
    with TestClient(create_app(tiny_settings((copy, other)))) as client:
        answer = client.post("/v1/encode", files={"file": digit_png(tiny_split.test_images[0])}).json()
        assert answer["is_digit"] is None and client.get("/v1/model").json()["ood"] is None
    # A calibration written before the detector existed: a clear error naming the file, not a crash.
    older = {**ood, "features": {k: v for k, v in ood["features"].items() if k != "detector"}}
    gaussians_only = {name: tensors[name] for name in ("means", "precision")}
    write_config(copy, {**config, "ood": older}, {STATS_FILE: gaussians_only})
    with pytest.raises(CheckpointError, match=f"{STATS_FILE}.*run cvae-calibrate again"):
        load_calibration(load_checkpoint(copy, "cvae"), load_checkpoint(classifier, "classifier"))


def test_an_uncalibrated_model_answers_null(client: TestClient) -> None:
    upload = digit_png(np.eye(28, dtype=np.uint8) * 255)
    answer = client.post("/v1/reconstruct", files={"file": upload}).json()
    assert answer["is_digit"] is None and answer["ood_score"] is None
    assert client.get("/v1/model").json()["ood"] is None


@pytest.fixture(scope="module")
def shipped() -> Iterator[TestClient]:
    with TestClient(create_app(shipped_settings(device="cpu"))) as client:
        yield client


def test_shipped_digits_pass_and_non_digits_are_flagged(shipped: TestClient, offline_split: Split) -> None:
    digits = [digit_png(image) for image in offline_split.test_images[1:200:2]]
    kinds = (letters(font_files(REPORT_FONTS)), noise, shapes)
    others = [data for kind in kinds for data in uploads(kind, 20, 7)]
    verdicts = {}
    for name, files in (("digits", digits), ("others", others)):
        answers = [shipped.post("/v1/reconstruct", files={"file": data}) for data in files]
        assert all(answer.status_code in (200, 400) for answer in answers)
        verdicts[name] = [a.status_code == 200 and a.json()["is_digit"] for a in answers]
    assert np.mean(verdicts["digits"]) >= 0.95
    assert np.mean(verdicts["others"]) <= 0.25


def test_every_upload_route_answers_is_digit(shipped: TestClient, offline_split: Split) -> None:
    """Every upload route gives the same verdict on the same upload, the calibrated threshold's; held-out
    digits pass but for the few the calibration lets it flag (CVAE_OOD_FLAG_RATE)."""
    threshold = shipped.get("/v1/model").json()["ood"]["threshold"]
    passed = []
    for image in offline_split.test_images[1::100]:  # one held-out digit of each class
        answers = [
            shipped.post(route, files={"file": digit_png(image)}, data={"label": "5"}).json()
            for route in ("/v1/encode", "/v1/reconstruct", "/v1/transfer")
        ]
        assert len({(answer["is_digit"], answer["ood_score"]) for answer in answers}) == 1
        assert answers[0]["is_digit"] is (answers[0]["ood_score"] <= threshold)
        passed.append(answers[0]["is_digit"])
    assert sum(passed) >= 8, passed
    data = digit_png(offline_split.test_images[3])
    # The verdict is about the upload, not about the label a user claims for it.
    scores = {
        shipped.post("/v1/encode", files={"file": data}, data={"label": str(label)}).json()["ood_score"]
        for label in range(10)
    }
    assert len(scores) == 1


def test_the_model_card_names_data_licence_calibration_and_limits(shipped: TestClient) -> None:
    for card in shipped.get("/v1/models").json()["models"]:
        assert card["data"]["licence"] and card["data"]["train_size"] > 0
        assert card["ood"]["flag_rate"] == 0.02 and card["ood"]["check_flagged"] <= 0.03
        assert card["limits"] and all(len(line) > 20 for line in card["limits"])
        assert card["intended_use"]


def test_the_detector_is_the_mean_of_its_members_and_stored_whole() -> None:
    g = torch.Generator().manual_seed(1)
    positives, negatives = (
        0.5 * torch.rand(64, 1, 28, 28, generator=g),
        torch.rand(64, 1, 28, 28, generator=g),
    )
    detector = fit_detector(positives, negatives, seed=3, channels=2, members=3, epochs=1)
    x = torch.rand(5, 1, 28, 28, generator=g)
    with torch.inference_mode():
        each = torch.stack([member(x)[:, 0] for member in detector.members])
        assert torch.allclose(detector(x), each.mean(dim=0))
        assert not torch.allclose(each[0], each[1])  # each member trained from its own seed
        again = OutlierDetector.from_tensors(detector.to_tensors())
        assert len(again.members) == 3 and torch.equal(again(x), detector(x))
