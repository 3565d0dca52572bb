from dataclasses import replace

import pytest
import torch

from model.checkpoint import load_checkpoint
from model.classifier import DigitClassifier
from model.config import ClassifierConfig
from training import train_classifier as classifier_train
from training.augment import augment, blur, change_stroke, jitter, low_resolution, random_affine


def _digit() -> torch.Tensor:
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0
    return x


def test_augment_keeps_shape_range_and_is_seeded() -> None:
    x = _digit()
    a = augment(x, torch.Generator().manual_seed(0))
    b = augment(x, torch.Generator().manual_seed(0))
    c = augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_identity_affine_leaves_the_image_alone() -> None:
    x = _digit()
    same = random_affine(x, torch.Generator().manual_seed(0), degrees=0, scale=(1, 1), shear=0, shift=0)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)


def test_stroke_changes_ink_and_blur_spreads_it() -> None:
    x = _digit()
    g = torch.Generator().manual_seed(0)
    thick = change_stroke(x, g, p_thick=1.0, p_thin=0.0)
    thin = change_stroke(x, g, p_thick=0.0, p_thin=1.0)
    assert thick.sum() > x.sum() > thin.sum()
    blurred = blur(x, g, p=1.0)
    assert (blurred > 0).sum() > (x > 0).sum()
    torch.testing.assert_close(blurred.sum(), x.sum(), rtol=0.01, atol=0)
    coarse = low_resolution(x, g, p=1.0)
    assert coarse.shape == x.shape and not torch.equal(coarse, x)


def test_classifier_shapes() -> None:
    model = DigitClassifier(ClassifierConfig(channels=4, hidden_dim=8)).eval()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_tiny_classifier_run_learns_and_saves(tmp_path, tiny_split) -> None:
    recipe = classifier_train.ClassifierRecipe(epochs=4, batch_size=32, lr=3e-3, device="cpu")
    metrics = classifier_train.train_classifier(
        tiny_split, tmp_path / "clf", recipe, ClassifierConfig(channels=8, hidden_dim=32)
    )
    assert metrics["test_accuracy"] > 0.5  # ten classes: chance is 0.1
    loaded = load_checkpoint(tmp_path / "clf", "classifier")
    assert loaded.config["metrics"] == metrics and loaded.config["data"]["train_size"] == 300
    assert loaded.config["training"]["european"] == 0.0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_european_digits_change_what_the_classifier_learns(tmp_path, tiny_split) -> None:
    """With --european the steps show flagged 1s and crossed 7s instead: another model from the same seed."""
    cfg = ClassifierConfig(channels=4, hidden_dim=8)
    recipe = classifier_train.ClassifierRecipe(epochs=1, batch_size=64, device="cpu")
    recipes = [replace(recipe, european=p) for p in (0.0, 1.0)]
    plain, european = (classifier_train.fit_classifier(tiny_split, recipe, cfg) for recipe in recipes)
    first = "features.0.0.weight"
    assert not torch.equal(plain.state_dict()[first], european.state_dict()[first])


def test_jitter_warps_only_the_chosen_share_and_mildly() -> None:
    x = _digit().repeat(50, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(jitter(x, g, p=0.0), x)
    warped = jitter(x, g, p=1.0)
    changed = (warped - x).flatten(1).abs().sum(1) > 0
    assert changed.all()
    # Mild: the ink stays where it was, give or take a pixel or two, and keeps its amount.
    torch.testing.assert_close(warped.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.15, atol=0)
    half = jitter(x, g, p=0.5)
    share = ((half - x).flatten(1).abs().sum(1) > 0).float().mean()
    assert 0.3 < share < 0.7


def test_a_recorded_recipe_reads_the_augmentation_of_classifiers_from_before_augment_was_an_option() -> None:
    old = {"batch_size": 128, "lr": 3e-3, "augmentation": "training/augment.py"}
    assert classifier_train.recorded_recipe(old)["augmentation"] == "uploads"
    assert classifier_train.recorded_recipe({**old, "augmentation": "objects"})["augmentation"] == "objects"
