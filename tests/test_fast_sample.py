"""POST /v1/sample's fast path (app/fast_sample.py) answers what FastAPI's route answers, byte for byte:
status, content type, length and body, for valid requests, for every kind of refusal, and for random bodies;
and it is the fast path that answers the valid ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app_support import tiny_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import fast_sample
from app.fast_sample import FastSample
from app.main import create_app

KEY = "secret-key"


def _without_fast_path(app: FastAPI) -> FastAPI:
    app.user_middleware = [entry for entry in app.user_middleware if entry.cls is not FastSample]
    return app


@pytest.fixture(scope="module", params=[None, KEY], ids=["open", "api-key"])
def clients(request: pytest.FixtureRequest, tiny_checkpoints: tuple[Path, Path]) -> Iterator[tuple]:
    """(fast, plain): the same service with and without the fast path, with and without an API key."""
    options = {} if request.param is None else {"api_key": request.param}
    fast_app = create_app(tiny_settings(tiny_checkpoints, **options))
    plain_app = _without_fast_path(create_app(tiny_settings(tiny_checkpoints, **options)))
    with TestClient(fast_app) as fast, TestClient(plain_app) as plain:
        yield fast, plain


def _post(client: TestClient, body: bytes, headers: dict[str, str]) -> tuple[int, str | None, bytes]:
    response = client.post("/v1/sample", content=body, headers=headers)
    assert response.headers.get("content-length") == str(len(response.content))
    return response.status_code, response.headers.get("content-type"), response.content


def _same(clients: tuple, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    fast, plain = clients
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}", **(headers or {})}
    answered = _post(fast, body, headers)
    assert answered == _post(plain, body, headers), body
    return answered[0], answered[2]


REQUESTS: list[Any] = [
    {"digit": 3, "seed": 1},
    {"label": 2, "n": 5, "seed": 7, "temperature": 0.5},
    {"digit": 9, "n": 3, "seed": 12, "min_confidence": 0.0},
    {"label": 4, "digit": 4, "n": 2, "seed": 0},
    {"digit": 3, "n": 1.0, "seed": 1},
]
REFUSED: list[Any] = [
    {"digit": 3, "n": 100_000},
    {"digit": 10, "seed": 1},
    {"digit": 3, "model": "no-such-model"},
    {"digit": 3, "n": 0},
    {"digit": 3, "unknown": 1},
    {"digit": 3, "seed": -1},
    {"digit": 3, "temperature": "hot"},
    {"digit": "3", "seed": 1},
    {"digit": 3, "min_confidence": 1.0, "n": 50, "seed": 1},
    {"n": 2, "seed": 0},  # no class
    {"label": 2, "digit": 5},  # two that disagree
    [1, 2, 3],
    "7",
    None,
]


@pytest.mark.parametrize("body", REQUESTS, ids=range(len(REQUESTS)))
def test_valid_requests_get_the_routes_bytes(clients: tuple, body: Any) -> None:
    status, _ = _same(clients, json.dumps(body).encode())
    assert status == 200


@pytest.mark.parametrize("body", REFUSED, ids=range(len(REFUSED)))
def test_refusals_get_the_routes_errors(clients: tuple, body: Any) -> None:
    status, _ = _same(clients, json.dumps(body).encode())
    assert status >= 400


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"digit": 3, "seed": 1', {}),
        (b"", {}),
        (b'{"digit": 3, "seed": 1}', {"Content-Type": "text/plain"}),
        (b'{"digit": 3, "seed": 1}', {"Content-Type": "application/json; charset=utf-8"}),
        (b'{"digit": 3, "seed": NaN}', {}),
        (b'{"digit": 3, "seed": 1}', {"Authorization": "Bearer wrong"}),
        (b'{"digit": 3, "seed": 1}', {"Authorization": ""}),
        (b'{"digit": 3, "seed": 1}', {"Authorization": f"Basic {KEY}"}),
    ],
)
def test_bodies_headers_and_keys_the_fast_path_leaves_to_fastapi(
    clients: tuple, body: bytes, headers: dict[str, str]
) -> None:
    _same(clients, body, headers)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
FIELDS = st.sampled_from(["digit", "label", "n", "seed", "temperature", "min_confidence", "model", "x"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(FIELDS, JSON_VALUES, max_size=5))
def test_random_bodies_get_the_same_answer(clients: tuple, body: dict[str, Any]) -> None:
    if body.get("seed") is None:
        body["seed"] = 5  # an unseeded valid request draws another seed each time
    _same(clients, json.dumps(body).encode())


def test_the_first_content_type_decides_as_for_fastapi(clients: tuple) -> None:
    body = json.dumps({"digit": 3, "seed": 1}).encode()
    headers = [("content-type", "text/plain"), ("content-type", "application/json")]
    headers.append(("authorization", f"Bearer {KEY}"))
    answers = [client.post("/v1/sample", content=body, headers=headers) for client in clients]
    assert answers[0].status_code == answers[1].status_code == 422
    assert answers[0].content == answers[1].content


def test_the_fast_path_answers_valid_requests_and_the_routes_refusals(
    clients: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, _ = clients
    answered: list[tuple[int, bytes]] = []
    real = FastSample._response

    async def counting(self: FastSample, scope: dict, body: bytes) -> Any:
        response = await real(self, scope, body)
        if response is not None:
            answered.append((response.status_code, bytes(response.body)))
        return response

    monkeypatch.setattr(fast_sample.FastSample, "_response", counting)
    status, body = _same(clients, json.dumps({"digit": 4, "n": 2, "seed": 3}).encode())
    assert status == 200 and answered == [(200, body)]
    status, body = _same(clients, json.dumps({"digit": 4, "n": 100_000}).encode())
    assert status == 422 and answered[-1] == (422, body)
    metrics = fast.get("/metrics").text
    assert 'cvae_http_requests_total{method="POST",route="/v1/sample",status="200"}' in metrics
    assert 'cvae_http_requests_total{method="POST",route="/v1/sample",status="422"}' in metrics
