"""/v1/number and /v1/number.png on tiny models: the same request gives the same bytes, the boxes fit the
image, a given style is the one written in, and what is not a number is a 422 that says so."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from app_support import LATENT_DIM, decode_png, png_upload
from fastapi.testclient import TestClient


def number(client: TestClient, **body: object) -> dict:
    response = client.post("/v1/number", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def refusal(client: TestClient, body: dict) -> dict:
    response = client.post("/v1/number", json=body)
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]


def test_a_number_is_one_image_with_a_box_per_digit(client: TestClient) -> None:
    body = number(client, text="2026", seed=7)
    assert (body["text"], body["seed"], body["temperature"], body["height"]) == ("2026", 7, 1.0, 28)
    image = decode_png(body["image"])
    assert image.shape[0] == 28 and len(body["boxes"]) == 4 and len(body["z"]) == LATENT_DIM
    rights = [box[2] for box in body["boxes"]]
    lefts = [box[0] for box in body["boxes"]]
    assert lefts == sorted(lefts) and all(
        right <= left for right, left in zip(rights, lefts[1:], strict=False)
    )
    assert all(0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= 28 for x0, y0, x1, y1 in body["boxes"])


def test_the_same_request_gives_the_same_bytes(client: TestClient) -> None:
    first = number(client, text="314159", seed=11)
    assert number(client, text="314159", seed=11) == first
    assert number(client, text="314159", seed=12)["image"] != first["image"]
    chosen = number(client, text="42")
    assert number(client, text="42", seed=chosen["seed"]) == chosen


def test_the_style_drawn_from_a_seed_is_its_first_sample(client: TestClient) -> None:
    sampled = client.post("/v1/sample", json={"digit": 0, "n": 1, "seed": 5, "temperature": 0.5}).json()
    assert number(client, text="7", seed=5, temperature=0.5)["z"] == sampled["latents"][0]


def test_a_given_style_is_the_one_written_in(client: TestClient) -> None:
    drawn = number(client, text="808", seed=3)
    assert number(client, text="808", seed=3, z=drawn["z"])["image"] == drawn["image"]
    other = [0.5] * LATENT_DIM
    given = number(client, text="808", seed=3, z=other)
    assert given["z"] == other and given["image"] != drawn["image"]


def test_the_png_is_the_json_image_with_the_seed_and_boxes_in_headers(client: TestClient) -> None:
    body = number(client, text="90210", seed=4, height=56)
    response = client.get("/v1/number.png", params={"text": "90210", "seed": 4, "height": 56})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content == base64.b64decode(body["image"])
    assert decode_png(response.content).shape[0] == 56
    assert response.headers["x-seed"] == "4"
    boxes = [[int(v) for v in box.split(",")] for box in response.headers["x-boxes"].split(";")]
    assert boxes == body["boxes"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"text": "12a"}, "text", "digits 0-9"),
        ({"text": "1 2"}, "text", "digits 0-9"),
        ({"text": ""}, "text", "at least 1"),
        ({"text": "1" * 17}, "text", "at most 16"),
        ({"text": 2026}, "text", "valid string"),
        ({}, "text", "Field required"),
        ({"text": "1", "height": 27}, "height", "greater than or equal to 28"),
        ({"text": "1", "height": 225}, "height", "less than or equal to 224"),
        ({"text": "1", "z": [0.0] * (LATENT_DIM + 1)}, "z", f"needs {LATENT_DIM} numbers"),
        ({"text": "1", "temperature": 0}, "temperature", "greater than 0"),
        ({"text": "1", "digit": 3}, "digit", "Extra inputs"),
    ],
)
def test_what_is_not_a_number_request_is_a_422_naming_the_field(
    client: TestClient, body: dict, field: str, words: str
) -> None:
    error = refusal(client, body)
    assert error["loc"][-1] == field and words in error["msg"], error


def test_the_png_route_refuses_what_is_not_a_number(client: TestClient) -> None:
    for text in ("12a", "", "1" * 17):
        response = client.get("/v1/number.png", params={"text": text})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "text"]
    assert client.get("/v1/number.png").status_code == 422


def test_a_model_whose_classes_are_not_digits_does_not_write_numbers(clothes_client: TestClient) -> None:
    error = refusal(clothes_client, {"text": "12", "model": "tiny-clothes"})
    assert error["loc"] == ["body", "model"] and "does not write digits" in error["msg"]
    response = clothes_client.get("/v1/number.png", params={"text": "12", "model": "tiny-clothes"})
    assert response.status_code == 422 and "garment 0" in response.json()["detail"][0]["msg"]
    assert number(clothes_client, text="12", seed=0)["model"] == "tiny-cvae"
    schema = clothes_client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["NumberRequest"]["properties"]["model"]["enum"] == ["tiny-cvae"]
    (query,) = [p for p in schema["paths"]["/v1/number.png"]["get"]["parameters"] if p["name"] == "model"]
    assert query["schema"]["enum"] == ["tiny-cvae"]


def test_written_digits_are_counted(client: TestClient) -> None:
    number(client, text="12345", seed=1)
    metrics = client.get("/metrics").text
    line = next(line for line in metrics.splitlines() if 'endpoint="number"' in line and "_total" in line)
    assert float(line.split()[-1]) >= 5


def read(client: TestClient, data: bytes, **form: str) -> dict:
    response = client.post("/v1/read", files={"file": ("number.png", data, "image/png")}, data=form)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_written_number_is_read_digit_by_digit_left_to_right(client: TestClient) -> None:
    response = client.get("/v1/number.png", params={"text": "4096", "seed": 2, "height": 84})
    body = read(client, response.content)
    digits = body["digits"]
    assert len(body["text"]) == len(digits) >= 1 and body["model"] == "tiny-cvae"
    assert body["text"] == "".join(str(digit["digit"]) for digit in digits)
    lefts = [digit["box"][0] for digit in digits]
    assert lefts == sorted(lefts)
    assert all(
        len(digit["probabilities"]) == 10 and decode_png(digit["input"]).shape == (28, 28) for digit in digits
    )
    assert 0 < body["confidence"] <= 1
    assert read(client, response.content) == body


def test_what_cannot_be_read_as_a_number_is_refused(clothes_client: TestClient) -> None:
    blank = clothes_client.post(
        "/v1/read", files={"file": ("b.png", png_upload(np.full((50, 90), 255, np.uint8)))}
    )
    assert blank.status_code == 400 and "no ink" in blank.json()["detail"]
    text = clothes_client.post("/v1/read", files={"file": ("a.txt", b"a shopping list", "text/plain")})
    assert text.status_code == 415
    clothes = clothes_client.post(
        "/v1/read", files={"file": ("n.png", png_upload())}, data={"model": "tiny-clothes"}
    )
    assert clothes.status_code == 422 and "does not read digits" in clothes.json()["detail"][0]["msg"]
