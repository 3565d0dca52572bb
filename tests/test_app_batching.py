"""The service under uvicorn on 127.0.0.1, as real clients meet it: the same seed gives byte-identical PNGs
whether a request ran alone or was batched with others of any size; an oversized upload gets its 413."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from app_support import batches_shared, digit_page, png_upload
from browser_support import serving, shipped_settings

# Requests of many sizes, so that a batch holds rows at every offset of a block and spans several blocks.
SAMPLES = [
    {"digit": seed % 10, "n": n, "seed": seed, "temperature": 0.5 + (seed % 4) / 4}
    for seed, n in enumerate([1, 3, 1, 8, 17, 1, 2, 40, 1, 5, 1, 16, 7, 1, 33, 1, 4, 1, 12, 1, 9, 1, 2, 64])
]
UPLOADS = [None, 3, None, 7]
CONCURRENCY = 24


def _requests() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, options) for every kind of request that decodes, mixed."""
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/sample", {"json": body}) for body in SAMPLES
    ]
    requests += [("GET", "/v1/sample.png", {"params": {"digit": 4, "n": n, "seed": n}}) for n in (1, 9, 25)]
    requests += [
        ("POST", "/v1/interpolate", {"json": {"digit": 2, "seeds": [s, s + 1], "steps": 5}}) for s in (1, 2)
    ]
    upload = png_upload(digit_page())
    for digit in UPLOADS:
        data = {} if digit is None else {"digit": str(digit)}
        requests.append(("POST", "/v1/reconstruct", {"files": {"file": ("d.png", upload)}, "data": data}))
        requests.append(("POST", "/v1/transfer", {"files": {"file": ("d.png", upload)}, "data": data}))
    return requests


def _answer(client: httpx.Client, request: tuple[str, str, dict[str, Any]]) -> Any:
    method, path, options = request
    response = client.request(method, path, **options)
    assert response.status_code == 200, response.text
    return response.content if path.endswith(".png") else response.json()


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def precision(request: pytest.FixtureRequest) -> str:
    """CVAE_PRECISION: the promise holds within each precision."""
    return request.param


@pytest.fixture(scope="module")
def alone(precision: str) -> list[Any]:
    """Every answer with batching off, one request at a time: the reference."""
    settings = shipped_settings(batching=False, precision=precision)
    with serving(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        return [_answer(client, request) for request in _requests()]


def test_concurrent_batched_answers_are_byte_identical_to_lone_ones(alone: list[Any], precision: str) -> None:
    requests = _requests()
    with (
        serving(shipped_settings(precision=precision)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            for _ in range(3):  # three rounds, so that the batches fall differently each time
                batched = list(pool.map(lambda request: _answer(client, request), requests))
                for request, expected, actual in zip(requests, alone, batched, strict=True):
                    assert actual == expected, f"{request[0]} {request[1]} differs when batched"
        assert batches_shared(client, "decoder") > 0, "no decoder batch was shared: the test proved nothing"
        assert batches_shared(client, "uploads") > 0, "no upload batch was shared: the test proved nothing"


def test_python_clients_read_the_413_of_an_oversized_upload() -> None:
    """http.client (under requests and urllib) sends a whole 30 MB body before it reads the answer: the
    server reads the rest and throws it away, so the client gets the 413 and its message, not a reset."""
    body = b"\0" * (30 * 1024 * 1024)
    with serving(shipped_settings()) as url:
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.request("POST", "/v1/reconstruct", body=body, headers={"Content-Type": "image/png"})
        response = connection.getresponse()
        assert response.status == 413
        assert "larger than the limit" in json.loads(response.read())["detail"]
        connection.close()
