"""Every endpoint of API version 1 on tiny models: shapes, formats, reproducibility, the OpenAPI schema."""

from __future__ import annotations

import numpy as np
import pytest
from app_support import LATENT_DIM, decode_png, png_upload
from fastapi.testclient import TestClient

from app.settings import Settings
from model.device import resolve_device


def sample(client: TestClient, **body: object) -> dict:
    response = client.post("/v1/sample", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def upload(client: TestClient, path: str, digit: int | None = None) -> dict:
    data = {} if digit is None else {"digit": str(digit)}
    response = client.post(path, files={"file": ("digit.png", png_upload(), "image/png")}, data=data)
    assert response.status_code == 200, response.text
    return response.json()


def test_sample(client: TestClient) -> None:
    body = sample(client, digit=3, n=5, seed=7)
    assert (body["digit"], body["n"], body["seed"], body["temperature"]) == (3, 5, 7, 1.0)
    assert len(body["images"]) == 5 and all(decode_png(i).shape == (28, 28) for i in body["images"])
    assert np.array(body["latents"]).shape == (5, LATENT_DIM)


def test_same_seed_gives_byte_identical_images(client: TestClient) -> None:
    first, again = sample(client, digit=5, n=4, seed=123), sample(client, digit=5, n=4, seed=123)
    assert first["images"] == again["images"]
    assert sample(client, digit=5, n=4, seed=124)["images"] != first["images"]


def test_seed_chosen_at_random_is_returned_and_reproduces(client: TestClient) -> None:
    first = sample(client, digit=1, n=2)
    assert first["seed"] != sample(client, digit=1, n=2)["seed"]
    assert sample(client, digit=1, n=2, seed=first["seed"])["images"] == first["images"]


def test_temperature_scales_the_prior_standard_deviation(client: TestClient) -> None:
    cold = np.array(sample(client, digit=2, n=3, seed=9, temperature=0.5)["latents"])
    hot = np.array(sample(client, digit=2, n=3, seed=9, temperature=2.0)["latents"])
    np.testing.assert_allclose(hot, 4 * cold, rtol=1e-5)


def test_sample_png_is_one_grid(client: TestClient) -> None:
    response = client.get("/v1/sample.png", params={"digit": 4, "n": 6, "nrow": 3, "seed": 11})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-seed"] == "11"
    assert decode_png(response.content).shape == (2 * 30 + 2, 3 * 30 + 2)
    again = client.get("/v1/sample.png", params={"digit": 4, "n": 6, "nrow": 3, "seed": 11})
    assert again.content == response.content
    tiles = decode_png(response.content)[2:30, 2:30]
    assert (tiles == decode_png(sample(client, digit=4, n=6, seed=11)["images"][0])).all()


def test_decode_turns_sampled_latents_back_into_the_same_images(client: TestClient) -> None:
    sampled = sample(client, digit=8, n=3, seed=5)
    response = client.post("/v1/decode", json={"digit": 8, "z": sampled["latents"]})
    assert response.status_code == 200
    assert response.json()["images"] == sampled["images"]


def test_interpolate_between_seeds_starts_and_ends_at_their_samples(client: TestClient) -> None:
    response = client.post("/v1/interpolate", json={"digit": 6, "seeds": [1, 2], "steps": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["steps"] == 5 and len(body["images"]) == 5 and len(body["latents"]) == 5
    assert body["images"][0] == sample(client, digit=6, seed=1)["images"][0]
    assert body["images"][-1] == sample(client, digit=6, seed=2)["images"][0]


def test_interpolate_between_latents(client: TestClient) -> None:
    start, end = [1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]
    response = client.post("/v1/interpolate", json={"digit": 0, "z": [start, end], "steps": 3})
    latents = np.array(response.json()["latents"])
    np.testing.assert_allclose(latents[[0, -1]], [start, end], atol=1e-6)
    # On the great circle: (sin 45 deg) * (start + end), not the straight line's (start + end) / 2.
    np.testing.assert_allclose(latents[1], np.sqrt(0.5) * (np.array(start) + end), atol=1e-5)


def test_reconstruct_infers_the_digit(client: TestClient) -> None:
    body = upload(client, "/v1/reconstruct")
    assert body["digit_source"] == "inferred"
    assert body["digit"] == int(np.argmax(body["probabilities"]))
    for key in ("probabilities", "elbo_probabilities"):
        assert len(body[key]) == 10 and sum(body[key]) == pytest.approx(1.0, abs=1e-5)
    assert decode_png(body["input"]).shape == decode_png(body["reconstruction"]).shape == (28, 28)
    assert len(body["mu"]) == len(body["logvar"]) == LATENT_DIM
    loss = body["loss"]
    assert loss["elbo"] == pytest.approx(-(loss["rec"] + loss["kld"])) and loss["kld"] >= 0


def test_an_upload_without_anything_to_say_has_no_notes(client: TestClient) -> None:
    for path in ("/v1/reconstruct", "/v1/encode", "/v1/transfer"):
        assert upload(client, path)["notes"] == []


def test_reconstruct_with_a_given_digit(client: TestClient) -> None:
    body = upload(client, "/v1/reconstruct", digit=4)
    assert (body["digit"], body["digit_source"], body["elbo_probabilities"]) == (4, "given", None)
    assert len(body["probabilities"]) == 10


def test_encode(client: TestClient) -> None:
    inferred, given = upload(client, "/v1/encode"), upload(client, "/v1/encode", digit=2)
    assert inferred["digit_source"] == "inferred" and (given["digit"], given["digit_source"]) == (2, "given")
    assert len(given["mu"]) == len(given["logvar"]) == LATENT_DIM
    assert upload(client, "/v1/reconstruct", digit=2)["mu"] == given["mu"]


def test_transfer_writes_the_upload_as_every_digit(client: TestClient) -> None:
    body = upload(client, "/v1/transfer", digit=7)
    assert body["digit"] == 7 and len(body["images"]) == 10
    assert len({image for image in body["images"]}) > 1
    assert decode_png(body["input"]).shape == (28, 28)


def test_model_info(client: TestClient) -> None:
    body = client.get("/v1/model").json()
    assert body["name"] == "tiny-cvae" and body["architecture"] == "conv"
    assert (body["latent_dim"], body["num_classes"], body["image_size"], body["loss"]) == (
        LATENT_DIM,
        10,
        28,
        "bce",
    )
    assert body["device"] == str(resolve_device(Settings().device))
    assert body["metrics"] == {"test_neg_elbo": 543.2}
    assert body["classifier"]["name"] == "tiny-classifier"


def test_page(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "/docs" in response.text


def test_openapi_describes_every_endpoint_with_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    for endpoint in [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/v1/model"),
        ("POST", "/v1/sample"),
        ("GET", "/v1/sample.png"),
        ("POST", "/v1/reconstruct"),
        ("POST", "/v1/encode"),
        ("POST", "/v1/decode"),
        ("POST", "/v1/transfer"),
        ("POST", "/v1/interpolate"),
    ]:
        assert endpoint in paths
    components = schema["components"]["schemas"]
    for name in ("SampleRequest", "DecodeRequest", "InterpolateRequest"):
        assert components[name]["examples"], name
    assert "413" in schema["paths"]["/v1/reconstruct"]["post"]["responses"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("path", ["/v1/sample", "/v1/number", "/v1/interpolate"])
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_json_sent_without_its_content_type_is_told_what_to_send(
    client: TestClient, path: str, content_type: str | None
) -> None:
    """curl -d sends a form's type: the answer says to send JSON with the header, and echoes no bytes."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = client.post(path, content=b'{"digit": 7, "text": "12"}', headers=headers)
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body"] and "input" not in error
    assert "Content-Type: application/json" in error["msg"]
    assert (content_type or "no Content-Type") in error["msg"]


def test_a_json_body_that_is_not_an_object_keeps_pydantic_s_answer(client: TestClient) -> None:
    (error,) = client.post("/v1/sample", json=[7]).json()["detail"]
    assert error["type"] == "model_attributes_type" and error["input"] == [7]


@pytest.mark.parametrize(
    "method, path, options",
    [
        ("GET", "/v1/sample.png", {"digit": 7, "count": 4}),
        ("GET", "/v1/model", {"name": "cvae-mnist"}),
        ("POST", "/v1/sample", {"count": 4}),
    ],
)
def test_an_unknown_query_parameter_is_refused_as_an_unknown_field_is(
    client: TestClient, method: str, path: str, options: dict
) -> None:
    answer = client.request(method, path, params=options, json={"digit": 7} if method == "POST" else None)
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    unknown = next(name for name in options if name not in ("digit",))
    assert error["type"] == "extra_forbidden" and error["loc"] == ["query", unknown]
    assert "Extra inputs are not permitted" in error["msg"]


def test_known_query_parameters_still_work(client: TestClient) -> None:
    assert client.get("/v1/sample.png", params={"digit": 7, "n": 2, "seed": 1}).status_code == 200
    assert client.get("/healthz", params={"probe": 1}).status_code == 200  # operations are not /v1
