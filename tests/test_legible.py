"""min_confidence (/v1/sample, /v1/sample.png): the first n of a seed's latents that the classifier reads as
the label, found in chunks whatever they are, the same bytes whether batched or not; without it, nothing
changes; a request that cannot be met within CVAE_MAX_DRAWS gets a 422 at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from app_support import batches_shared, decode_png, tiny_settings
from browser_support import serving, shipped_settings
from fastapi.testclient import TestClient
from torch import Tensor

from app.main import create_app
from model.checkpoint import load_checkpoint
from model.cvae import CVAE
from model.images import to_uint8
from model.inference import inference_form
from model.legible import STREAM_BLOCK, LatentStream, LegibleSearch, TooFewLegibleError, judge

ROOT = Path(__file__).resolve().parents[1]


def fake_confidence(z: Tensor) -> Tensor:
    """A stand-in for decode-and-classify: a row's confidence is a function of that row alone."""
    return torch.sigmoid(2 * z[:, 0])


def run_search(search: LegibleSearch) -> LegibleSearch:
    while (z := search.next_chunk()) is not None:
        search.keep(fake_confidence(z))
    return search


# The pure logic (model/legible.py).


def test_the_stream_is_the_same_whatever_sizes_are_taken(cvae: CVAE) -> None:
    first, sizes = 5, (2, 1, 40, 0, STREAM_BLOCK, 35)  # across the first rows and two blocks
    whole = LatentStream(cvae, 3, first, 0.7).take(sum(sizes))
    stream = LatentStream(cvae, 3, first, 0.7)
    pieces = torch.cat([stream.take(k) for k in sizes])
    assert torch.equal(pieces, whole)
    # Its first rows are what /v1/sample answers without min_confidence.
    plain = cvae.sample_latents(first, 0.7, torch.Generator().manual_seed(3), device="cpu")
    assert torch.equal(whole[:first], plain)


@pytest.mark.parametrize("n, min_confidence", [(1, 0.8), (5, 0.6), (20, 0.9), (7, 0.0)])
def test_the_search_finds_the_first_n_that_pass_whatever_the_chunks(
    cvae: CVAE, n: int, min_confidence: float
) -> None:
    """Compared with filtering one long draw of the stream: same latents, draws up to the n-th."""
    max_draws = 2000
    every = LatentStream(cvae, 11, n, 1.0).take(max_draws)
    passing = (fake_confidence(every).double() >= min_confidence).nonzero().flatten()[:n]
    for min_chunk, max_chunk in [(1, 4096), (8, 16), (64, 64), (1, 1)]:
        stream = LatentStream(cvae, 11, n, 1.0)
        search = run_search(LegibleSearch(stream, n, min_confidence, max_draws, min_chunk, max_chunk))
        assert torch.equal(search.accepted(), every[passing]), (min_chunk, max_chunk)
        assert search.draws == int(passing[-1]) + 1 >= n
        assert search.drawn >= search.draws
    if min_confidence == 0:
        assert search.draws == search.drawn == n  # one chunk of n rows, all accepted


def test_the_search_stops_at_max_draws_and_says_how_many_passed(cvae: CVAE) -> None:
    search = run_search(LegibleSearch(LatentStream(cvae, 0, 4, 1.0), 4, 0.999, 100, min_chunk=8))
    assert search.drawn == search.draws == 100 and not search.met
    assert search.next_chunk() is None
    with pytest.raises(TooFewLegibleError, match=rf"only {search.found} of the 4 images .* in 100 draws"):
        search.accepted()


def test_the_search_judges_no_more_than_max_draws_when_n_is_larger(cvae: CVAE) -> None:
    search = run_search(LegibleSearch(LatentStream(cvae, 0, 9, 1.0), 9, 0.0, 5))
    assert (search.drawn, search.found) == (5, 5)


def test_keep_needs_a_confidence_per_row_of_the_chunk(cvae: CVAE) -> None:
    search = LegibleSearch(LatentStream(cvae, 0, 3, 1.0), 3, 0.5, 10)
    search.next_chunk()
    with pytest.raises(ValueError, match="one confidence per row"):
        search.keep(torch.ones(2))


def test_judge_reads_the_uint8_pixels_a_client_gets(cvae: CVAE) -> None:
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    z, labels = torch.randn(6, cvae.cfg.latent_dim), torch.tensor([0, 1, 2, 3, 4, 5])
    judged = judge(cvae, classifier, z, labels)
    with torch.no_grad():
        tiles = to_uint8(cvae.images(z, labels))
        pixels = torch.from_numpy(tiles).float().div(255)[:, None]
        probabilities = torch.softmax(classifier(pixels), dim=1)
    assert np.array_equal(judged.tiles, tiles)
    torch.testing.assert_close(judged.probabilities, probabilities)
    torch.testing.assert_close(judged.confidence, probabilities[torch.arange(6), labels])
    parts = judged.split([2, 4])
    assert [len(part.tiles) for part in parts] == [len(part.confidence) for part in parts] == [2, 4]
    assert torch.equal(parts[1].probabilities, judged.probabilities[2:])


# Validation and plumbing on the tiny untrained models: their classifier reads every image as any class
# with probability 0.09.


def test_without_min_confidence_the_answer_is_as_before(client: TestClient) -> None:
    body = {"digit": 3, "n": 5, "seed": 7}
    plain = client.post("/v1/sample", json=body).json()
    assert plain["draws"] == 5
    assert client.post("/v1/sample", json={**body, "min_confidence": None}).json() == plain
    # Every image passes 0: the same images and latents, from the judging path.
    assert client.post("/v1/sample", json={**body, "min_confidence": 0}).json() == plain
    png = client.get("/v1/sample.png", params=body)
    assert png.headers["x-draws"] == "5"
    assert client.get("/v1/sample.png", params={**body, "min_confidence": 0}).content == png.content


@pytest.mark.parametrize("value", [-0.1, 1.01, "0.5", True, [0.5]])
def test_min_confidence_must_be_a_number_from_0_to_1(client: TestClient, value: Any) -> None:
    response = client.post("/v1/sample", json={"digit": 1, "min_confidence": value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "min_confidence"]


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan", "inf", "high"])
def test_min_confidence_in_the_query_must_be_a_number_from_0_to_1(client: TestClient, value: str) -> None:
    response = client.get("/v1/sample.png", params={"digit": 1, "min_confidence": value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "min_confidence"]


@pytest.fixture(scope="module")
def capped(tiny_checkpoints: tuple[Path, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(tiny_settings(tiny_checkpoints, max_draws=50))) as started:
        yield started


def test_a_request_that_cannot_be_met_gets_a_422_that_says_why(capped: TestClient) -> None:
    response = capped.post("/v1/sample", json={"digit": 2, "n": 3, "seed": 1, "min_confidence": 0.5})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "min_confidence"] and error["input"] == 0.5
    assert error["msg"].startswith("only 0 of the 3 images asked for reached min_confidence 0.5 in 50 draws")
    assert "CVAE_MAX_DRAWS" in error["msg"]
    png = capped.get("/v1/sample.png", params={"digit": 2, "n": 3, "min_confidence": 0.5})
    assert png.status_code == 422 and png.json()["detail"][0]["loc"] == ["query", "min_confidence"]
    # Fewer than n images within the cap is still too few: below n draws nothing can be met.
    n_over_cap = capped.post("/v1/sample", json={"digit": 2, "n": 60, "min_confidence": 0})
    assert n_over_cap.status_code == 422 and "only 50 of the 60" in n_over_cap.json()["detail"][0]["msg"]


def test_an_impossible_request_ends_at_the_default_cap(client: TestClient) -> None:
    """CVAE_MAX_DRAWS=4096 rows of the tiny models, however hopeless the request: a bounded wait."""
    start = time.monotonic()
    response = client.post("/v1/sample", json={"digit": 9, "n": 256, "min_confidence": 1})
    assert response.status_code == 422 and "in 4096 draws" in response.json()["detail"][0]["msg"]
    assert time.monotonic() - start < 60


def test_the_schema_documents_the_field_and_its_422(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    field = schema["components"]["schemas"]["SampleRequest"]["properties"]["min_confidence"]
    assert "CVAE_MAX_DRAWS" in field["description"]
    for path, method in (("/v1/sample", "post"), ("/v1/sample.png", "get")):
        assert "CVAE_MAX_DRAWS" in schema["paths"][path][method]["responses"]["422"]["description"]
    assert "draws" in schema["components"]["schemas"]["SampleResponse"]["required"]


# Real behaviour on the shipped digits model, under uvicorn.


@pytest.fixture(scope="module")
def served() -> Iterator[httpx.Client]:
    with serving(shipped_settings(extra_models=[])) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def classifier() -> torch.nn.Module:
    """The shipped classifier as the service runs it (blockwise), to judge what came back."""
    checkpoint = load_checkpoint(ROOT / "checkpoints/digit-classifier", "classifier", torch.device("cpu"))
    return inference_form(checkpoint.model)


def sample(client: httpx.Client, **body: object) -> dict:
    response = client.post("/v1/sample", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def confidence(classifier: torch.nn.Module, images: list[str], label: int) -> Tensor:
    pixels = torch.from_numpy(np.stack([decode_png(image) for image in images])).float().div(255)[:, None]
    with torch.inference_mode():
        return torch.softmax(classifier(pixels), dim=1)[:, label]


def test_legible_samples_pass_and_come_back_the_same(
    served: httpx.Client, classifier: torch.nn.Module
) -> None:
    body = {"digit": 2, "n": 6, "seed": 3, "min_confidence": 0.99}
    first = sample(served, **body)
    assert sample(served, **body) == first
    assert first["n"] == len(first["images"]) == len(first["latents"]) == 6
    assert first["draws"] > 6  # some images of the seed's first six did not pass: the filter did something
    assert (confidence(classifier, first["images"], 2) >= 0.99 - 1e-6).all()
    decoded = served.post("/v1/decode", json={"digit": 2, "z": first["latents"]}).json()
    assert decoded["images"] == first["images"]
    # The answer starts with those of the seed's plain samples that pass, in order.
    plain = sample(served, digit=2, n=6, seed=3)
    passed = (confidence(classifier, plain["images"], 2) >= 0.99).tolist()
    passing = [image for image, ok in zip(plain["images"], passed, strict=True) if ok]
    assert 0 < len(passing) < 6 and first["images"][: len(passing)] == passing


def test_the_png_grid_holds_the_same_images_and_says_the_draws(served: httpx.Client) -> None:
    params = {"digit": 0, "n": 3, "seed": 8, "nrow": 3, "min_confidence": 0.99}
    response = served.get("/v1/sample.png", params=params)
    assert response.status_code == 200 and response.headers["x-seed"] == "8"
    answer = sample(served, digit=0, n=3, seed=8, min_confidence=0.99)
    assert response.headers["x-draws"] == str(answer["draws"])
    grid = decode_png(response.content)
    for i, image in enumerate(answer["images"]):
        assert (grid[2:30, 2 + 30 * i : 30 + 30 * i] == decode_png(image)).all()


REQUESTS = [
    {"digit": seed % 10, "n": n, "seed": seed, "min_confidence": threshold}
    for seed, (n, threshold) in enumerate(
        [(1, 0.99), (4, 0.9), (2, 0.99), (9, 0.5), (1, 0.9), (16, 0.99), (3, 0.95), (1, None), (5, 0.99)]
    )
]


def test_concurrent_requests_batch_and_answer_as_alone(served: httpx.Client) -> None:
    """The same bytes and draws whether a request's chunks ran alone or beside others' in one batch."""
    alone = [sample(served, **body) for body in REQUESTS]
    with ThreadPoolExecutor(len(REQUESTS)) as pool:
        for _ in range(3):
            together = list(pool.map(lambda body: sample(served, **body), REQUESTS))
            for body, expected, actual in zip(REQUESTS, alone, together, strict=True):
                assert actual == expected, f"{body} differs when batched"
    assert batches_shared(served, "judge") > 0, "no judge batch was shared: the test proved nothing"
