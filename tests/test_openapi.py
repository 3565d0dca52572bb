"""The served schema tells the truth: the bearer scheme only when a key is set, the limits of this server
(latent_dim from its checkpoint, CVAE_MAX_N), and uploads as files that client generators recognise."""

from __future__ import annotations

import json

from app_support import LATENT_DIM, tiny_settings
from fastapi.testclient import TestClient

from app.main import create_app
from app.openapi import LIMIT_KEY, apply_limits


def _schema(checkpoints, **overrides: object) -> dict:
    with TestClient(create_app(tiny_settings(checkpoints, **overrides))) as client:
        return client.get("/openapi.json").json()


def test_no_security_is_declared_without_a_key(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    assert all(
        "security" not in operation for path in schema["paths"].values() for operation in path.values()
    )


def test_with_a_key_every_v1_operation_declares_the_bearer_scheme(tiny_checkpoints) -> None:
    schema = _schema(tiny_checkpoints, api_key="s3cret-key")
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert ("security" in operation) == path.startswith("/v1/"), path


def test_the_limits_of_this_server_are_in_the_schema(tiny_checkpoints) -> None:
    schema = _schema(tiny_checkpoints, max_n=7)
    components = schema["components"]["schemas"]
    latent = components["DecodeRequest"]["properties"]["z"]
    assert latent["maxItems"] == 7
    assert latent["items"]["minItems"] == latent["items"]["maxItems"] == LATENT_DIM
    for end in components["InterpolateRequest"]["properties"]["z"]["prefixItems"]:
        assert end["minItems"] == end["maxItems"] == LATENT_DIM
    assert components["SampleRequest"]["properties"]["n"]["maximum"] == 7
    query = schema["paths"]["/v1/sample.png"]["get"]["parameters"]
    assert next(p for p in query if p["name"] == "n")["schema"]["maximum"] == 7
    assert LIMIT_KEY not in json.dumps(schema)


def test_uploads_are_binary_files_and_their_digit_is_never_null(client: TestClient) -> None:
    components = client.get("/openapi.json").json()["components"]["schemas"]
    bodies = {name: body for name, body in components.items() if name.startswith("Body_")}
    assert len(bodies) == 4
    for name, body in bodies.items():
        assert body["properties"]["file"]["format"] == "binary"
        assert body["properties"]["file"]["minLength"] == 1
        assert body["required"] == ["file"]
        # A number's digits are read, never given; every other upload may give its digit.
        given = body["properties"].get("digit", {}).get("type")
        assert given == (None if name.startswith("Body_read") else "integer"), name


def test_no_field_offers_null_that_the_server_refuses(client: TestClient) -> None:
    """Interpolation takes seeds or z: one of them, never null, as the schema's oneOf says."""
    interpolate = client.get("/openapi.json").json()["components"]["schemas"]["InterpolateRequest"]
    assert interpolate["oneOf"] == [{"required": ["seeds"]}, {"required": ["z"]}]
    assert "anyOf" not in interpolate["properties"]["seeds"] and "anyOf" not in interpolate["properties"]["z"]
    digit = interpolate["properties"]["digit"]
    assert (digit["minimum"], digit["maximum"]) == (0, 9)  # constraints stay JSON Schema keywords


def test_an_integral_number_is_an_integer_and_a_boolean_is_no_number(client: TestClient) -> None:
    """JSON Schema counts 3.0 as an integer; true is neither an integer nor a number."""
    assert client.post("/v1/sample", json={"digit": 3.0, "n": 2.0, "seed": 1.0}).json()["n"] == 2
    row = [0.0] * (LATENT_DIM - 1)
    assert client.post("/v1/decode", json={"digit": 3, "z": [[True, *row]]}).status_code == 422
    assert client.post("/v1/sample", json={"digit": 3, "temperature": True}).status_code == 422
    assert client.post("/v1/interpolate", json={"digit": 3, "seeds": None, "z": None}).status_code == 422


def test_apply_limits_fills_arrays_numbers_and_names() -> None:
    marked = {
        "a": {"type": "array", LIMIT_KEY: "latent_dim"},
        "b": [{"type": "integer", LIMIT_KEY: "max_n"}, {"type": "integer", LIMIT_KEY: "max_label"}],
        "c": {"type": "string", LIMIT_KEY: "model_names"},
    }
    limits = {"latent_dim": (3, 4), "max_n": 9, "max_label": 11, "model_names": ["m", "n"]}
    assert apply_limits(marked, limits) == {
        "a": {"type": "array", "minItems": 3, "maxItems": 4},
        "b": [{"type": "integer", "maximum": 9}, {"type": "integer", "maximum": 11}],
        "c": {"type": "string", "enum": ["m", "n"]},
    }


def test_a_walk_between_far_latents_is_answered(client: TestClient) -> None:
    """The great circle between two latents inside the bound can leave it; the answer must still be a 200
    (found by schemathesis: the answer's latents were checked against the request's bound, a 500)."""
    start = [-9000.0] * LATENT_DIM
    end = [9000.0 if i % 2 else -9000.0 for i in range(LATENT_DIM)]
    response = client.post("/v1/interpolate", json={"digit": 1, "z": [start, end], "steps": 8})
    assert response.status_code == 200, response.text
    assert max(abs(v) for row in response.json()["latents"] for v in row) > 9000
