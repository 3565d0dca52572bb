"""Bad input gets a clear 4xx with a JSON {"detail": ...}, never a 500: each row of issue 3 is a case here."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from app_support import (
    LATENT_DIM,
    encode_image,
    noise_image,
    png_declaring,
    png_upload,
    tiny_settings,
    truncated,
)
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import create_app


def assert_error(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]


def post_raw_json(client: TestClient, path: str, text: str):
    """JSON as written, so that NaN and Infinity (which json.dumps would refuse) reach the server."""
    return client.post(path, content=text.encode(), headers={"content-type": "application/json"})


BAD_SAMPLE_BODIES = {
    "digit 10": '{"digit": 10}',
    "digit -1": '{"digit": -1}',
    'digit "x"': '{"digit": "x"}',
    "digit 3.5": '{"digit": 3.5}',
    'digit "3"': '{"digit": "3"}',
    "digit true": '{"digit": true}',
    "n 0": '{"digit": 1, "n": 0}',
    "n over the max": '{"digit": 1, "n": 257}',
    "n 2.5": '{"digit": 1, "n": 2.5}',
    "temperature 0": '{"digit": 1, "temperature": 0}',
    "temperature negative": '{"digit": 1, "temperature": -1}',
    "temperature NaN": '{"digit": 1, "temperature": NaN}',
    "temperature Infinity": '{"digit": 1, "temperature": Infinity}',
    "temperature -Infinity": '{"digit": 1, "temperature": -Infinity}',
    "temperature 1e999": '{"digit": 1, "temperature": 1e999}',
    'temperature "nan"': '{"digit": 1, "temperature": "nan"}',
    "temperature over 3": '{"digit": 1, "temperature": 3.5}',
    "seed negative": '{"digit": 1, "seed": -1}',
    "seed 2^53": '{"digit": 1, "seed": 9007199254740992}',
    "unknown field": '{"digit": 1, "temprature": 1}',
    "not an object": "[1, 2]",
}


@pytest.mark.parametrize("body", BAD_SAMPLE_BODIES.values(), ids=BAD_SAMPLE_BODIES.keys())
def test_bad_sample_requests(client: TestClient, body: str) -> None:
    assert_error(post_raw_json(client, "/v1/sample", body), 422)


@pytest.mark.parametrize(
    "body",
    ["{", '{"digit": 1,}', "[" * 100_000, '{"digit": 1' + "0" * 5000 + "}", "\xff\xfe"],
    ids=["unclosed", "trailing comma", "deeply nested", "5000-digit number", "not utf-8"],
)
def test_unparseable_json_is_a_client_error(client: TestClient, body: str) -> None:
    response = post_raw_json(client, "/v1/sample", body)
    assert response.status_code in (400, 422) and response.json()["detail"]


BAD_QUERIES = {
    "digit 10": {"digit": 10},
    "digit x": {"digit": "x"},
    "digit 3.5": {"digit": 3.5},
    "label 10 of a 10-class model": {"label": 10},
    "n 0": {"digit": 1, "n": 0},
    "n over the max": {"digit": 1, "n": 257},
    "temperature nan": {"digit": 1, "temperature": "nan"},
    "temperature inf": {"digit": 1, "temperature": "inf"},
    "temperature 0": {"digit": 1, "temperature": 0},
    "nrow 0": {"digit": 1, "nrow": 0},
}


@pytest.mark.parametrize("params", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_bad_sample_png_queries(client: TestClient, params: dict) -> None:
    assert_error(client.get("/v1/sample.png", params=params), 422)


ROW = "[" + ", ".join(["0.5"] * LATENT_DIM) + "]"
BAD_DECODE_BODIES = {
    "z too short": '{"digit": 1, "z": [[0.5]]}',
    "z too long": '{"digit": 1, "z": [' + ROW[:-1] + ", 0.5]]}",
    "second row wrong": '{"digit": 1, "z": [' + ROW + ", [1]]}",
    "z NaN": '{"digit": 1, "z": [[NaN' + ", 0" * (LATENT_DIM - 1) + "]]}",
    "z Infinity": '{"digit": 1, "z": [[Infinity' + ", 0" * (LATENT_DIM - 1) + "]]}",
    "z empty": '{"digit": 1, "z": []}',
    "z beyond float32": '{"digit": 1, "z": [[1e300' + ", 0" * (LATENT_DIM - 1) + "]]}",
    "z not nested": '{"digit": 1, "z": [0.5, 0.5, 0.5, 0.5]}',
    "too many rows": '{"digit": 1, "z": [' + ", ".join([ROW] * 257) + "]}",
    "digit 10": '{"digit": 10, "z": [' + ROW + "]}",
}


@pytest.mark.parametrize("body", BAD_DECODE_BODIES.values(), ids=BAD_DECODE_BODIES.keys())
def test_bad_decode_requests(client: TestClient, body: str) -> None:
    assert_error(post_raw_json(client, "/v1/decode", body), 422)


BAD_INTERPOLATE_BODIES = {
    "neither seeds nor z": '{"digit": 1}',
    "both seeds and z": '{"digit": 1, "seeds": [1, 2], "z": [' + ROW + ", " + ROW + "]}",
    "one seed": '{"digit": 1, "seeds": [1]}',
    "steps 1": '{"digit": 1, "seeds": [1, 2], "steps": 1}',
    "steps 65": '{"digit": 1, "seeds": [1, 2], "steps": 65}',
    "z wrong length": '{"digit": 1, "z": [[1], [2]]}',
    "z NaN": '{"digit": 1, "z": [[NaN, 0, 0, 0], ' + ROW + "]}",
}


@pytest.mark.parametrize("body", BAD_INTERPOLATE_BODIES.values(), ids=BAD_INTERPOLATE_BODIES.keys())
def test_bad_interpolate_requests(client: TestClient, body: str) -> None:
    assert_error(post_raw_json(client, "/v1/interpolate", body), 422)


BAD_UPLOADS = {
    "text": (b"just some text\n", 415),
    "pdf": (b"%PDF-1.4\n%%EOF\n", 415),
    "zip": (b"PK\x05\x06" + b"\0" * 18, 415),
    "truncated png": (truncated("PNG"), 400),
    "truncated jpeg": (truncated("JPEG"), 400),
    "empty file": (b"", 400),
    "decompression bomb": (png_declaring(30000, 30000), 413),
    "blank": (png_upload(np.full((64, 64), 255, dtype=np.uint8)), 400),
}


@pytest.mark.parametrize("path", ["/v1/reconstruct", "/v1/encode", "/v1/transfer"])
@pytest.mark.parametrize("name", BAD_UPLOADS)
def test_bad_uploads(client: TestClient, path: str, name: str) -> None:
    data, status = BAD_UPLOADS[name]
    response = client.post(path, files={"file": ("upload.bin", data, "application/octet-stream")})
    assert_error(response, status)
    if name == "blank":
        assert "no ink" in response.json()["detail"]


@pytest.mark.parametrize("digit", ["10", "-1", "x", "3.5"])
def test_bad_form_digit(client: TestClient, digit: str) -> None:
    response = client.post("/v1/reconstruct", files={"file": ("d.png", png_upload())}, data={"digit": digit})
    assert_error(response, 422)


@pytest.mark.parametrize(
    "request_options",
    [{}, {"data": {"digit": "3"}}, {"data": {"file": "not a file"}}, {"json": {"file": "x"}}],
    ids=["no body", "only digit", "file as text field", "json body"],
)
def test_missing_file_field(client: TestClient, request_options: dict) -> None:
    assert_error(client.post("/v1/reconstruct", **request_options), 422)


def test_broken_multipart_is_a_client_error(client: TestClient) -> None:
    response = client.post(
        "/v1/reconstruct",
        content=b"--x\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert 400 <= response.status_code < 500


@pytest.fixture(scope="module")
def small_limit_client(tiny_checkpoints):
    with TestClient(
        create_app(tiny_settings(tiny_checkpoints, max_upload_bytes=2000, max_pixels=10_000))
    ) as c:
        yield c


def test_body_over_the_limit_is_refused_from_its_content_length(small_limit_client: TestClient) -> None:
    response = small_limit_client.post("/v1/reconstruct", files={"file": ("big.bin", b"\0" * 5000)})
    assert_error(response, 413)


def test_body_over_the_limit_is_refused_while_streaming(small_limit_client: TestClient) -> None:
    """A chunked upload declares no length: the limit counts the bytes (test_app_ops: and stops reading)."""
    chunks = (b"\0" * 1000 for _ in range(100))
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    assert_error(small_limit_client.post("/v1/reconstruct", content=chunks, headers=multipart), 413)


def test_pixel_limit_is_a_413(small_limit_client: TestClient) -> None:
    big = png_upload(np.zeros((200, 200), dtype=np.uint8))
    assert len(big) < 2000
    assert_error(small_limit_client.post("/v1/encode", files={"file": ("p.png", big)}), 413)


def test_unknown_path_and_method(client: TestClient) -> None:
    assert_error(client.get("/v2/sample"), 404)
    assert_error(client.get("/v1/sample"), 405)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/v1/sample", "/v1/decode", "/v1/interpolate"]),
    body=st.dictionaries(
        st.sampled_from(["digit", "n", "seed", "temperature", "z", "seeds", "steps"]), json_values
    ),
)
def test_no_json_body_produces_a_server_error(client: TestClient, path: str, body: dict) -> None:
    response = client.post(
        path, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text


def test_upload_fuzz_never_produces_a_server_error(client: TestClient) -> None:
    """Random bytes behind real image signatures, random cuts of real images, damaged headers."""
    rng = np.random.default_rng(3)
    signatures = [
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"GIF89a",
        b"RIFF\0\0\0\0WEBP",
        b"BM",
        b"II*\0",
        b"MM\0*",
    ]
    real = [encode_image(noise_image(), f) for f in ("PNG", "JPEG", "GIF", "WEBP", "BMP")]
    uploads = [s + rng.bytes(int(rng.integers(0, 300))) for s in signatures]
    uploads += [data[: int(rng.integers(1, len(data)))] for data in real]
    for data, at in zip(real * 4, rng.integers(8, 100, 4 * len(real)), strict=True):
        uploads.append(
            data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
        )  # one byte of the header flipped
    for data in uploads:
        response = client.post("/v1/reconstruct", files={"file": ("f", io.BytesIO(data))})
        assert response.status_code < 500, (data[:16], response.text)
