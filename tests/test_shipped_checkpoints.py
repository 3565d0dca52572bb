"""The committed checkpoints: they load, meet the acceptance figures they record, and behave as recorded."""

from pathlib import Path

import pytest
import torch

from model.checkpoint import load_checkpoint
from model.classifier import classify

ROOT = Path(__file__).resolve().parents[1]
CVAE_DIR = ROOT / "checkpoints" / "cvae-mnist"
CLASSIFIER_DIR = ROOT / "checkpoints" / "digit-classifier"


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(CVAE_DIR, "cvae"), load_checkpoint(CLASSIFIER_DIR, "classifier")


def test_recorded_metrics_are_consistent_and_beat_the_baseline(shipped) -> None:
    cvae, classifier = shipped
    metrics = cvae.config["metrics"]
    baseline = load_checkpoint(ROOT / "checkpoints" / "mlp-baseline-100", "cvae").config["metrics"]
    # Each bound is tighter than the one before: IWAE <= -ELBO with refined q <= -ELBO with the encoder's q.
    assert metrics["test_iwae_nll"] <= metrics["test_neg_elbo_refined"] <= metrics["test_neg_elbo"]
    assert metrics["iwae_k"] >= 500 and metrics["test_neg_elbo_samples"] == 10
    assert metrics["test_neg_elbo"] <= 92
    assert metrics["test_neg_elbo"] < baseline["test_neg_elbo"] - 8
    assert metrics["conditional_sample_accuracy"] > baseline["conditional_sample_accuracy"] + 0.1
    assert metrics["label_inference_accuracy"] >= 0.97
    assert metrics["conditional_sample_accuracy"] >= 0.98
    assert metrics["diversity_ratio_min"] >= 0.7
    assert classifier.config["metrics"]["test_accuracy"] >= 0.985
    assert cvae.config["data"]["train_size"] == 9000 and classifier.config["data"]["train_size"] == 9000
    assert "Share Alike 3.0" in cvae.config["data"]["licence"]


def test_samples_are_recognised_as_the_digit_asked_for(shipped) -> None:
    """A fresh check, independent of the recorded figures: 30 samples per digit, judged by the classifier."""
    cvae, classifier = shipped
    wanted = torch.arange(10).repeat_interleave(30)
    images = cvae.model.generate(wanted, 1.0, torch.Generator().manual_seed(12345))
    accuracy = (classify(classifier.model, images) == wanted).float().mean().item()
    assert accuracy >= 0.96  # the full evaluation (100 per digit, seed 0) records 0.992


def test_figures_are_committed_beside_the_checkpoint() -> None:
    for name in ("samples.png", "loss_curves.png"):
        assert (CVAE_DIR / name).read_bytes()[:4] == b"\x89PNG"
