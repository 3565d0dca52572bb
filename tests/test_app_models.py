"""Several models in one service: a tiny digits model (the default) beside a tiny 3-class model with named
classes. Every /v1 operation takes `model` and `label` (`digit` its older name); requests that name no model
get the default's answers, byte for byte as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from app_support import LATENT_DIM, png_upload, tiny_settings
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import ModelPaths
from model.checkpoint import save_checkpoint
from model.classifier import DigitClassifier
from model.config import ClassifierConfig, CVAEConfig
from model.cvae import CVAE

PETS = ["cat", "dog", "fish"]


@pytest.fixture(scope="module")
def pets(tmp_path_factory: pytest.TempPathFactory) -> ModelPaths:
    """A 3-class model whose config.json names its classes, as cvae-train writes them."""
    root = tmp_path_factory.mktemp("pets")
    torch.manual_seed(1)
    data = {"name": "pets", "class_names": PETS}
    cvae = CVAE(CVAEConfig(arch="mlp", latent_dim=LATENT_DIM, hidden_dim=16, num_classes=3))
    classifier = DigitClassifier(ClassifierConfig(channels=4, hidden_dim=8, num_classes=3))
    save_checkpoint(root / "cvae", cvae, {"name": "tiny-pets", "data": data})
    save_checkpoint(root / "classifier", classifier.eval(), {"name": "pets-classifier", "data": data})
    return ModelPaths(checkpoint=root / "cvae", classifier=root / "classifier")


@pytest.fixture(scope="module")
def both(tiny_checkpoints: tuple[Path, Path], pets: ModelPaths) -> Iterator[TestClient]:
    with TestClient(create_app(tiny_settings(tiny_checkpoints, extra_models=[pets]))) as started:
        yield started


@pytest.fixture(scope="module")
def alone(tiny_checkpoints: tuple[Path, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(tiny_settings(tiny_checkpoints))) as started:
        yield started


def test_models_lists_every_model_with_its_classes(both: TestClient) -> None:
    listing = both.get("/v1/models").json()
    assert listing["default"] == "tiny-cvae"
    assert [(m["name"], m["class_names"]) for m in listing["models"]] == [
        ("tiny-cvae", [str(d) for d in range(10)]),
        ("tiny-pets", PETS),
    ]
    assert both.get("/v1/model", params={"model": "tiny-pets"}).json()["num_classes"] == 3
    assert both.get("/v1/model").json()["name"] == "tiny-cvae"


def test_a_request_naming_no_model_gets_the_same_answer_as_before(
    both: TestClient, alone: TestClient
) -> None:
    body = {"digit": 7, "n": 3, "seed": 5}
    assert both.post("/v1/sample", json=body).json() == alone.post("/v1/sample", json=body).json()
    params = {"digit": 2, "n": 4, "seed": 1}
    assert (
        both.get("/v1/sample.png", params=params).content
        == alone.get("/v1/sample.png", params=params).content
    )


@pytest.mark.parametrize("name", ["label", "digit"])
def test_every_operation_answers_for_the_named_model(both: TestClient, name: str) -> None:
    sample = both.post("/v1/sample", json={"model": "tiny-pets", name: 1, "n": 2, "seed": 3}).json()
    assert (sample["model"], sample["label"], sample["digit"], sample["class_name"]) == (
        "tiny-pets",
        1,
        1,
        "dog",
    )
    digits = both.post("/v1/sample", json={name: 1, "n": 2, "seed": 3}).json()
    assert digits["model"] == "tiny-cvae" and digits["images"] != sample["images"]
    decoded = both.post("/v1/decode", json={"model": "tiny-pets", name: 1, "z": sample["latents"]}).json()
    assert decoded["images"] == sample["images"]
    walk = both.post("/v1/interpolate", json={"model": "tiny-pets", name: 2, "seeds": [1, 2], "steps": 3})
    assert walk.json()["class_name"] == "fish" and len(walk.json()["images"]) == 3
    grid = both.get("/v1/sample.png", params={"model": "tiny-pets", name: 2, "n": 4})
    assert grid.status_code == 200 and grid.content.startswith(b"\x89PNG")
    upload = {"file": ("d.png", png_upload(), "image/png")}
    given = both.post("/v1/reconstruct", files=upload, data={"model": "tiny-pets", name: 0}).json()
    assert (given["model"], given["class_name"], given["digit_source"]) == ("tiny-pets", "cat", "given")
    inferred = both.post("/v1/encode", files=upload, data={"model": "tiny-pets"}).json()
    assert len(inferred["probabilities"]) == 3 and inferred["class_name"] == PETS[inferred["label"]]
    transfer = both.post("/v1/transfer", files=upload, data={"model": "tiny-pets"}).json()
    assert len(transfer["images"]) == 3


def test_the_class_is_required_and_label_and_digit_must_agree(both: TestClient) -> None:
    """Neither field, or both with different values, is a 422 that names them: class 0 in silence, or one
    of two classes chosen in silence, would look like an answer to the question asked."""
    assert both.post("/v1/sample", json={"label": 2, "digit": 2, "seed": 1}).json()["label"] == 2
    upload = {"file": ("d.png", png_upload(), "image/png")}
    missing = [
        (both.post("/v1/sample", json={"seed": 1}), "body"),
        (both.post("/v1/decode", json={"z": [[0.0] * LATENT_DIM]}), "body"),
        (both.post("/v1/interpolate", json={"seeds": [1, 2]}), "body"),
        (both.get("/v1/sample.png", params={"n": 2}), "query"),
    ]
    for answer, where in missing:
        (error,) = answer.json()["detail"]
        assert answer.status_code == 422 and error["loc"] == [where, "label"]
        assert "label" in error["msg"] and "digit" in error["msg"]
    disagreeing = [
        (both.post("/v1/sample", json={"label": 2, "digit": 5}), "body"),
        (both.get("/v1/sample.png", params={"label": 2, "digit": 5}), "query"),
        (both.post("/v1/reconstruct", files=upload, data={"label": 1, "digit": 2}), "body"),
    ]
    for answer, where in disagreeing:
        (error,) = answer.json()["detail"]
        assert answer.status_code == 422 and error["loc"] == [where, "digit"] and "disagree" in error["msg"]


def test_an_unknown_model_is_a_404_naming_the_known_ones(both: TestClient) -> None:
    for response in (
        both.post("/v1/sample", json={"model": "nope", "label": 1}),
        both.get("/v1/sample.png", params={"model": "nope"}),
        both.get("/v1/model", params={"model": "nope"}),
        both.post("/v1/encode", files={"file": ("d.png", png_upload(), "image/png")}, data={"model": "nope"}),
    ):
        assert response.status_code == 404
        assert "tiny-cvae" in response.json()["detail"] and "tiny-pets" in response.json()["detail"]


def test_a_label_past_the_models_classes_is_a_422(both: TestClient) -> None:
    response = both.post("/v1/sample", json={"model": "tiny-pets", "label": 3})
    assert response.status_code == 422 and "0 to 2" in response.text
    assert both.post("/v1/sample", json={"label": 9}).status_code == 200  # the digits model has ten
    upload = {"file": ("d.png", png_upload(), "image/png")}
    assert both.post("/v1/encode", files=upload, data={"model": "tiny-pets", "label": 5}).status_code == 422


def test_the_schema_names_the_models_and_the_largest_label(both: TestClient) -> None:
    schemas = both.get("/openapi.json").json()["components"]["schemas"]
    sample = schemas["SampleRequest"]["properties"]
    assert sample["model"]["enum"] == ["tiny-cvae", "tiny-pets"]
    assert sample["label"]["maximum"] == 9


def test_metrics_carry_the_models_name(both: TestClient) -> None:
    both.post("/v1/sample", json={"model": "tiny-pets", "label": 0, "n": 2})
    text = both.get("/metrics").text
    assert 'cvae_images_generated_total{endpoint="sample",model="tiny-pets"}' in text
    assert 'cvae_batch_rows_count{batcher="decoder",model="tiny-pets"}' in text
