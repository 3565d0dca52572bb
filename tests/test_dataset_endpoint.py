"""GET /v1/dataset: a streamed download of the bytes cvae-generate writes for the same arguments, images of
each class or written numbers, capped by CVAE_MAX_DATASET_PER_CLASS, with the service's usual errors."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from app_support import tiny_settings
from fastapi.testclient import TestClient

from app.main import create_app
from model.dataset_files import DATASHEET_FILE, IMAGES_FILE, LABELS_FILE, NPZ_FILE, TEXT_LABELS_FILE
from training.commands.generate import main as generate
from training.idx import read_idx

CAP = 6
# The tiny models, and the tiny CVAE again beside them under classes that are not digits (a fixture).


@pytest.fixture(scope="module")
def client(tiny_checkpoints: tuple[Path, Path]) -> Iterator[TestClient]:
    settings = tiny_settings(tiny_checkpoints, max_dataset_per_class=CAP, max_draws=40, batch_max_rows=16)
    with TestClient(create_app(settings)) as started:
        yield started


def cli(client: TestClient, checkpoints: tuple[Path, Path], out: Path, *options: str) -> Path:
    """cvae-generate on the service's checkpoints and device."""
    device = client.get("/v1/model").json()["device"]
    cvae, classifier = checkpoints
    models = ["--checkpoint", str(cvae), "--classifier", str(classifier), "--device", device]
    generate([*models, "--out", str(out), *options])
    return out


def download(client: TestClient, **query: object) -> bytes:
    response = client.get("/v1/dataset", params=query)
    assert response.status_code == 200, response.text
    return response.content


def test_npz_is_the_file_cvae_generate_writes(client: TestClient, tiny_checkpoints, tmp_path: Path) -> None:
    response = client.get("/v1/dataset", params={"per_class": 4, "seed": 9, "temperature": 0.8})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    disposition = response.headers["content-disposition"]
    assert disposition == 'attachment; filename="tiny-cvae-seed9-4-per-class.npz"'
    assert response.headers["x-seed"] == "9"
    options = ["--format", "npz", "--per-class", "4", "--seed", "9"]
    same = cli(client, tiny_checkpoints, tmp_path / "same", *options, "--temperature", "0.8")
    assert (same / NPZ_FILE).read_bytes() == response.content
    other = cli(client, tiny_checkpoints, tmp_path / "other", *options)
    assert (other / NPZ_FILE).read_bytes() != response.content
    with np.load(io.BytesIO(response.content), allow_pickle=False) as npz:
        assert npz["images"].shape == (40, 28, 28) and npz["images"].dtype == np.uint8
        assert npz["labels"].tolist() == [label for label in range(10) for _ in range(4)]


def test_idx_is_a_tar_of_the_files_cvae_generate_writes(
    client: TestClient, tiny_checkpoints, tmp_path: Path
) -> None:
    response = client.get("/v1/dataset", params={"per_class": 3, "seed": 4, "format": "idx"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    assert response.headers["content-disposition"].endswith('filename="tiny-cvae-seed4-3-per-class.tar"')
    out = cli(client, tiny_checkpoints, tmp_path / "idx", "--per-class", "3", "--seed", "4")
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        assert tar.getnames() == [IMAGES_FILE, LABELS_FILE, DATASHEET_FILE]
        files = {name: tar.extractfile(name).read() for name in tar.getnames()}
    for name in (IMAGES_FILE, LABELS_FILE):
        assert files[name] == (out / name).read_bytes()
    (tmp_path / "unpacked").mkdir()
    (tmp_path / "unpacked" / IMAGES_FILE).write_bytes(files[IMAGES_FILE])
    assert read_idx(tmp_path / "unpacked" / IMAGES_FILE, 3).shape == (30, 28, 28)
    served, written = json.loads(files[DATASHEET_FILE]), json.loads((out / DATASHEET_FILE).read_text())
    assert (
        served["request"] == "GET /v1/dataset?per_class=3&format=idx&model=tiny-cvae&seed=4&temperature=1.0"
    )
    assert "command" not in served and "request" not in written
    del written["command"], served["request"]
    assert served == written


def test_min_confidence_gives_cvae_generate_s_images_or_a_422(
    client: TestClient, tiny_checkpoints, tmp_path: Path
) -> None:
    """The tiny classifier reads each image as its class with about 0.1: 0.05 keeps all, 0.5 none."""
    kept = download(client, per_class=5, seed=2, format="idx", min_confidence=0.05)
    options = ["--per-class", "5", "--seed", "2", "--min-confidence", "0.05"]
    out = cli(client, tiny_checkpoints, tmp_path / "kept", *options)
    with tarfile.open(fileobj=io.BytesIO(kept)) as tar:
        assert tar.extractfile(IMAGES_FILE).read() == (out / IMAGES_FILE).read_bytes()
        sheet = json.loads(tar.extractfile(DATASHEET_FILE).read())
    assert sheet["classifier"]["name"] == "tiny-classifier" and sheet["min_confidence"] == 0.05
    response = client.get("/v1/dataset", params={"per_class": 5, "min_confidence": 0.5})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "min_confidence"] and error["input"] == 0.5
    assert error["msg"].startswith("only 0 of the 5 images asked for reached min_confidence 0.5 in 40 draws")
    assert "for class 0 (0)" in error["msg"] and "CVAE_MAX_DRAWS" in error["msg"]


def test_without_a_seed_one_is_chosen_and_returned(client: TestClient) -> None:
    response = client.get("/v1/dataset", params={"per_class": 2})
    assert response.status_code == 200
    seed = int(response.headers["x-seed"])
    assert download(client, per_class=2, seed=seed) == response.content
    assert download(client, per_class=2, seed=seed + 1) != response.content


def test_per_class_over_the_cap_is_a_422_naming_it(client: TestClient) -> None:
    response = client.get("/v1/dataset", params={"per_class": CAP + 1})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "per_class"] and re.search(rf"\b{CAP}\b", error["msg"])
    assert download(client, per_class=CAP, seed=0)
    parameters = client.get("/openapi.json").json()["paths"]["/v1/dataset"]["get"]["parameters"]
    per_class = next(p for p in parameters if p["name"] == "per_class")
    assert not per_class["required"] and per_class["schema"]["maximum"] == CAP  # per_class or numbers


# Written numbers: numbers, min_length and max_length.


def test_numbers_npz_is_the_file_cvae_generate_writes(
    client: TestClient, tiny_checkpoints, tmp_path: Path
) -> None:
    query = {"numbers": 5, "seed": 6, "temperature": 0.7, "max_length": 6}
    response = client.get("/v1/dataset", params=query)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="tiny-cvae-seed6-5-numbers.npz"'
    options = ["--numbers", "5", "--seed", "6", "--max-length", "6", "--format", "npz"]
    same = cli(client, tiny_checkpoints, tmp_path / "same", *options, "--temperature", "0.7")
    assert (same / NPZ_FILE).read_bytes() == response.content
    other = cli(client, tiny_checkpoints, tmp_path / "other", *options)
    assert (other / NPZ_FILE).read_bytes() != response.content
    with np.load(io.BytesIO(response.content), allow_pickle=False) as npz:
        assert npz["images"].shape[:2] == (5, 28) and all(1 <= len(text) <= 6 for text in npz["labels"])


def test_numbers_png_is_a_tar_of_the_files_cvae_generate_writes(
    client: TestClient, tiny_checkpoints, tmp_path: Path
) -> None:
    response = client.get("/v1/dataset", params={"numbers": 4, "seed": 2, "min_length": 3, "format": "png"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    assert response.headers["content-disposition"].endswith('filename="tiny-cvae-seed2-4-numbers.tar"')
    out = cli(
        client, tiny_checkpoints, tmp_path / "png", "--numbers", "4", "--seed", "2", "--min-length", "3"
    )
    pngs = [f"images/{i:05d}.png" for i in range(4)]
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        assert tar.getnames() == [*pngs, TEXT_LABELS_FILE, DATASHEET_FILE]
        files = {name: tar.extractfile(name).read() for name in tar.getnames()}
    for name in [*pngs, TEXT_LABELS_FILE]:
        assert files[name] == (out / name).read_bytes()
    served, written = json.loads(files[DATASHEET_FILE]), json.loads((out / DATASHEET_FILE).read_text())
    assert served["request"] == (
        "GET /v1/dataset?numbers=4&min_length=3&max_length=8&format=png&model=tiny-cvae&seed=2"
        "&temperature=1.0"
    )
    del written["command"], served["request"]
    assert served == written


def test_each_number_is_what_v1_number_writes_for_its_text_and_seed(client: TestClient) -> None:
    """The set's seeds are style seeds: /v1/number.png with a number's text and seed gives its PNG."""
    with np.load(io.BytesIO(download(client, numbers=3, seed=5)), allow_pickle=False) as npz:
        texts, seeds = npz["labels"].tolist(), npz["seeds"].tolist()
    with tarfile.open(fileobj=io.BytesIO(download(client, numbers=3, seed=5, format="png"))) as tar:
        for i, (text, seed) in enumerate(zip(texts, seeds, strict=True)):
            response = client.get("/v1/number.png", params={"text": text, "seed": seed})
            assert response.content == tar.extractfile(f"images/{i:05d}.png").read()


def test_numbers_of_a_model_that_does_not_write_digits_is_a_422(clothes_client: TestClient) -> None:
    response = clothes_client.get("/v1/dataset", params={"numbers": 2, "model": "tiny-clothes"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "model"] and "does not write digits" in error["msg"]
    assert (
        clothes_client.get("/v1/dataset", params={"per_class": 1, "model": "tiny-clothes"}).status_code == 200
    )


@pytest.mark.parametrize(
    "query, field, words",
    [
        ({"numbers": 2, "per_class": 2}, "per_class", "per_class: for images of each class"),
        (
            {"numbers": 2, "per_class": 2, "min_confidence": 0.5},
            "per_class",
            "per_class and min_confidence: for images of each class, not with numbers",
        ),
        (
            {"numbers": 2, "min_confidence": 0.5},
            "min_confidence",
            "min_confidence: for images of each class, not with numbers",
        ),
        ({"numbers": 2, "format": "idx"}, "format", "numbers comes as npz or png"),
        ({"per_class": 2, "min_length": 2}, "min_length", "min_length: only with numbers"),
        ({"numbers": 2, "min_length": 5, "max_length": 4}, "min_length", "got 5 to 4"),
        ({"numbers": 2, "min_length": 9}, "min_length", "got 9 to 8"),
        ({"numbers": 8, "max_length": 8}, "numbers", f"at most {10 * CAP} digits"),
        ({"numbers": 2, "max_length": 17}, "max_length", "less than or equal to 16"),
        ({"numbers": 0}, "numbers", "greater than or equal to 1"),
    ],
)
def test_a_numbers_query_of_the_wrong_kind_is_a_422_naming_the_fields(
    client: TestClient, query: dict, field: str, words: str
) -> None:
    response = client.get("/v1/dataset", params=query)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field] and words in error["msg"], error
    assert download(client, numbers=2 * CAP, max_length=5, seed=0)  # 60 digits: at the cap


@pytest.mark.parametrize(
    "query, status, field",
    [
        ({}, 422, "per_class"),
        ({"format": "idx"}, 422, "per_class"),
        ({"per_class": 0}, 422, "per_class"),
        ({"per_class": 2, "format": "png"}, 422, "format"),
        ({"per_class": 2, "temperature": 0}, 422, "temperature"),
        ({"per_class": 2, "temperature": "nan"}, 422, "temperature"),
        ({"per_class": 2, "min_confidence": 1.5}, 422, "min_confidence"),
        ({"per_class": 2, "seed": -1}, 422, "seed"),
        ({"per_class": 2, "model": "nope"}, 404, None),
    ],
)
def test_bad_queries_get_json_errors(client: TestClient, query: dict, status: int, field: str | None) -> None:
    response = client.get("/v1/dataset", params=query)
    assert response.status_code == status
    detail = response.json()["detail"]
    if field is None:
        assert "unknown model 'nope'" in detail and "tiny-cvae" in detail
    else:
        assert detail[0]["loc"] == ["query", field]


def test_the_images_made_are_counted(client: TestClient) -> None:
    def counted() -> float:
        metrics = client.get("/metrics").text
        found = re.search(
            r'cvae_images_generated_total\{endpoint="dataset",model="tiny-cvae"\} (\S+)', metrics
        )
        return float(found[1]) if found else 0.0

    before = counted()
    download(client, per_class=3, seed=1)
    assert counted() == before + 30
