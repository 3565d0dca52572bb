"""Evaluation on a tiny trained model: every metric present and sane, figures and config.json written."""

import json
import math

import numpy as np
import pytest
import torch
from data_support import write_split_as_idx

from model.bounds import elbo, elbo_by_label, elbo_by_label_with_noise, iwae_bound, refine_posterior
from model.checkpoint import load_checkpoint, save_checkpoint
from model.classifier import DigitClassifier
from model.config import ClassifierConfig, CVAEConfig
from model.loss import kl_divergence, reconstruction_loss
from model.synthetic import DatasetSpec
from training.cas import first_of_each_class
from training.commands import evaluate as evaluate_cli
from training.data import to_tensors
from training.evaluate import mean_pairwise_distance
from training.generate import open_synthesis
from training.report import results_table
from training.train import TrainConfig, train


def test_iwae_is_tighter_than_the_elbo(cvae) -> None:
    x, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4, 5])
    g = torch.Generator().manual_seed(0)
    lower = elbo(cvae, x, y, samples=100, generator=g)
    tighter = iwae_bound(cvae, x, y, k=100, chunk=50, generator=g)
    assert (tighter >= lower - 0.5).all() and tighter.mean() > lower.mean()
    # With k = 1 the bound is a single-sample ELBO estimate: its mean over many draws is the ELBO.
    many = x[:1].expand(500, -1, -1, -1)
    one = iwae_bound(cvae, many, y[:1].expand(500), k=1, generator=g).mean()
    assert abs(one - elbo(cvae, x[:1], y[:1], 500, g)[0]) < 1.0


def test_elbo_by_label_is_the_elbo_under_each_label(cvae) -> None:
    x = torch.rand(3, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    table = elbo_by_label(cvae, x, samples=100, generator=g)
    assert table.shape == (3, 10)
    for label in (0, 4, 9):
        direct = elbo(cvae, x, torch.full((3,), label), samples=100, generator=g)
        torch.testing.assert_close(table[:, label], direct, atol=1.0, rtol=0)


def test_elbo_by_label_with_given_noise_uses_exactly_those_draws(cvae) -> None:
    """The service's form: the given draws eps, for every image and label, in one pass each network."""
    x = torch.rand(3, 1, 28, 28)
    eps = torch.randn(4, cvae.cfg.latent_dim)
    table = elbo_by_label_with_noise(cvae, x, eps)
    assert table.shape == (3, 10)
    for label in (0, 9):
        y = torch.full((3,), label)
        mu, logvar = cvae.encode(x, y)
        rec = torch.stack(
            [reconstruction_loss(cvae.decode(mu + (0.5 * logvar).exp() * e, y), x) for e in eps]
        )
        torch.testing.assert_close(table[:, label], -(rec.mean(0) + kl_divergence(mu, logvar)))


def test_mean_pairwise_distance() -> None:
    images = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert math.isclose(mean_pairwise_distance(images), (5 + 5 + 0) * 2 / 6)


@pytest.fixture
def trained(tmp_path, tiny_split):
    train(
        CVAEConfig(arch="mlp", latent_dim=4, hidden_dim=32),
        TrainConfig(epochs=2, batch_size=32, device="cpu"),
        tiny_split,
        tmp_path / "cvae",
    )
    save_checkpoint(
        tmp_path / "clf",
        DigitClassifier(ClassifierConfig(channels=4, hidden_dim=8)).eval(),
        {"metrics": {"test_accuracy": 0.5}},
    )
    write_split_as_idx(tiny_split, tmp_path / "idx")
    return tmp_path


def test_evaluate_cli_prints_and_stores_every_metric(trained, capsys) -> None:
    evaluate_cli.main(
        [
            str(trained / "cvae"),
            "--classifier",
            str(trained / "clf"),
            "--data",
            "idx",
            "--data-dir",
            str(trained / "idx"),
            "--iwae-k",
            "20",
            "--samples-per-class",
            "5",
            "--device",
            "cpu",
        ]
    )
    printed = json.loads(capsys.readouterr().out)
    stored = load_checkpoint(trained / "cvae", "cvae").config["metrics"]  # the hash still matches
    assert printed == stored
    for key in (
        "test_neg_elbo",
        "test_iwae_nll",
        "label_inference_accuracy",
        "conditional_sample_accuracy",
        "diversity_ratio_min",
        "diversity",
    ):
        assert key in stored
    assert stored["test_iwae_nll"] <= stored["test_neg_elbo"] + 1.0
    assert 0 <= stored["label_inference_accuracy"] <= 1 and 0 <= stored["conditional_sample_accuracy"] <= 1
    assert set(stored["diversity"]) == {str(d) for d in range(10)}
    assert stored["classifier"]["test_accuracy"] == 0.5
    for figure in ("samples.png", "loss_curves.png"):
        assert (trained / "cvae" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cas_trains_the_classifier_recipe_on_synthetic_real_and_both(trained, capsys) -> None:
    recipe = {"batch_size": 32, "lr": 3e-3, "augmentation": "uploads"}
    small = ClassifierConfig(channels=4, hidden_dim=8)
    save_checkpoint(
        trained / "recipe",
        DigitClassifier(small).eval(),
        {"epochs": 1, "training": recipe, "metrics": {}},
    )
    common = ["--data", "idx", "--data-dir", str(trained / "idx"), "--device", "cpu", "--iwae-k", "2"]
    common += ["--classifier", str(trained / "recipe"), "--samples-per-class", "2", "--bound-images", "5"]
    evaluate_cli.main([str(trained / "cvae"), *common, "--cas"])
    cas = json.loads(capsys.readouterr().out)["cas"]
    assert cas["synthetic_images"] == 300 and cas["test_images"] == 100
    assert cas["recipe"] == {"epochs": 1, "seed": 0, "european": 0.0, **recipe}
    for key in ("synthetic", "real", "real_plus_synthetic"):
        assert 0 <= cas[key] <= 1
    assert cas["weights_sha256"] == load_checkpoint(trained / "cvae", "cvae").config["weights_sha256"]
    # Without --cas, the score measured on these very weights is kept.
    evaluate_cli.main([str(trained / "cvae"), *common])
    assert json.loads(capsys.readouterr().out)["cas"] == cas


def test_first_of_each_class_takes_each_class_count_from_the_front_of_its_stream(trained) -> None:
    counts = np.array([3, 0, 1, 2, 0, 0, 0, 0, 0, 1])
    wide, _ = open_synthesis(trained / "cvae", DatasetSpec(3, seed=5), "cpu")
    images, labels = first_of_each_class(wide, counts)
    assert np.bincount(labels, minlength=10).tolist() == counts.tolist()
    narrow, _ = open_synthesis(trained / "cvae", DatasetSpec(1, seed=5), "cpu")
    firsts = {chunk.label: chunk.tiles[0] for chunk in narrow}
    assert np.array_equal(images[0], firsts[0]) and np.array_equal(images[3], firsts[2])


def test_evaluate_cli_reports_a_bad_checkpoint_in_one_line(trained, capsys) -> None:
    (trained / "cvae" / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(SystemExit) as info:
        evaluate_cli.main([str(trained / "cvae"), "--classifier", str(trained / "clf")])
    assert info.value.code == 2
    assert "sha256 mismatch" in capsys.readouterr().err


def test_refining_q_tightens_the_elbo_and_leaves_the_decoder_alone(trained, tiny_split) -> None:
    cvae = load_checkpoint(trained / "cvae", "cvae").model
    x, y = to_tensors(tiny_split.test_images[:50], tiny_split.test_labels[:50])
    before = {k: v.clone() for k, v in cvae.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    q = refine_posterior(cvae, x, y, steps=30, lr=0.05, generator=g)
    amortized = elbo(cvae, x, y, 100, g)
    refined = elbo(cvae, x, y, 100, g, q)
    assert refined.mean() > amortized.mean() + 0.5
    assert all(torch.equal(before[k], v) for k, v in cvae.state_dict().items())
    assert all(p.requires_grad for p in cvae.parameters())


def test_report_table_has_a_row_per_checkpoint(trained) -> None:
    config_path = trained / "cvae" / "config.json"
    config = json.loads(config_path.read_text())
    cas = {"synthetic": 0.9512}
    config["metrics"] = {"test_neg_elbo": 93.456, "label_inference_accuracy": 0.9761, "cas": cas}
    config_path.write_text(json.dumps(config))
    table = results_table([trained / "cvae"]).splitlines()
    assert len(table) == 3 and table[0].count("|") == table[2].count("|")
    assert "93.46" in table[2] and "97.6%" in table[2] and "mlp" in table[2] and "95.1%" in table[2]
