"""The served schema tells the truth: the bearer scheme only when a key is set, the limits of this server
(latent_dim from its checkpoint, CVAE_MAX_N), and uploads as files that client generators recognise."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from test_app_support import LATENT_DIM, tiny_settings

from app.main import create_app
from app.openapi import LIMIT_KEY, apply_limits

pytest_plugins = ["test_app_support"]  # the fixtures `client` and `tiny_checkpoints`


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
    for end in components["InterpolateRequest"]["properties"]["z"]["anyOf"][0]["prefixItems"]:
        assert end["minItems"] == end["maxItems"] == LATENT_DIM
    assert components["SampleRequest"]["properties"]["n"]["maximum"] == 7
    query = schema["paths"]["/v1/sample.png"]["get"]["parameters"]
    assert next(p for p in query if p["name"] == "n")["schema"]["maximum"] == 7
    assert LIMIT_KEY not in json.dumps(schema)


def test_uploads_are_binary_files(client: TestClient) -> None:
    components = client.get("/openapi.json").json()["components"]["schemas"]
    bodies = [body for name, body in components.items() if name.startswith("Body_")]
    assert len(bodies) == 3
    for body in bodies:
        assert body["properties"]["file"]["format"] == "binary"
        assert body["properties"]["file"]["minLength"] == 1


def test_apply_limits_fills_arrays_and_numbers() -> None:
    marked = {"a": {"type": "array", LIMIT_KEY: "latent_dim"}, "b": [{"type": "integer", LIMIT_KEY: "max_n"}]}
    assert apply_limits(marked, {"latent_dim": 3, "max_n": 9}) == {
        "a": {"type": "array", "minItems": 3, "maxItems": 3},
        "b": [{"type": "integer", "maximum": 9}],
    }
