"""A client generated from the live schema by openapi-python-client calls every endpoint, uploads included,
and reads the typed answers and the typed errors: the schema is enough to use the service."""

from __future__ import annotations

import importlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser_support import serving, shipped_settings
from test_app_support import digit_page, png_upload

BIN = Path(sys.executable).parent
GENERATOR = BIN / "openapi-python-client"
KEY = "generated-client-key"

pytestmark = pytest.mark.skipif(
    shutil.which(str(GENERATOR)) is None, reason="openapi-python-client is in the dev extra (make install)"
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    """The service with an API key, and a client package generated from its /openapi.json."""
    root = tmp_path_factory.mktemp("client")
    with serving(shipped_settings(api_key=KEY)) as url:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff post-hook
        command = [str(GENERATOR), "generate", "--url", f"{url}/openapi.json", "--meta", "none"]
        run = subprocess.run(
            [*command, "--output-path", str(root / "cvae_client")], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stdout + run.stderr
        sys.path.insert(0, str(root))
        try:
            yield importlib.import_module("cvae_client"), url
        finally:
            sys.path.remove(str(root))
            for name in [name for name in sys.modules if name.split(".")[0] == "cvae_client"]:
                del sys.modules[name]


def _api(module: str):
    return importlib.import_module(f"cvae_client.api.{module}")


def test_generated_client_calls_every_endpoint(generated) -> None:
    package, url = generated
    models = importlib.import_module("cvae_client.models")
    files = importlib.import_module("cvae_client.types")
    client = package.AuthenticatedClient(base_url=url, token=KEY, timeout=60)

    info = _api("model.model_info_v1_model_get").sync(client=client)
    assert isinstance(info, models.ModelInfo) and info.latent_dim == 12

    sample = _api("generation.sample_v1_sample_post").sync(
        client=client, body=models.SampleRequest(digit=7, n=2, seed=1)
    )
    assert isinstance(sample, models.SampleResponse) and len(sample.images) == 2 and sample.seed == 1

    grid = _api("generation.sample_png_v1_sample_png_get").sync_detailed(client=client, digit=3, n=4, seed=2)
    assert grid.status_code == 200 and grid.content.startswith(b"\x89PNG")

    decoded = _api("generation.decode_v1_decode_post").sync(
        client=client, body=models.DecodeRequest(digit=7, z=sample.latents)
    )
    assert isinstance(decoded, models.ImagesResponse) and decoded.images == sample.images

    # The schema's oneOf (seeds or z) is beyond this generator's models: the body is a plain dict.
    walk = _api("generation.interpolate_v1_interpolate_post").sync(
        client=client, body={"digit": 2, "seeds": [1, 2], "steps": 5}
    )
    assert isinstance(walk, models.InterpolateResponse) and len(walk.images) == 5

    upload = png_upload(digit_page())

    def file() -> object:
        return files.File(payload=io.BytesIO(upload), file_name="digit.png", mime_type="image/png")

    reconstructed = _api("uploads.reconstruct_v1_reconstruct_post").sync(
        client=client, body=models.BodyReconstructV1ReconstructPost(file=file())
    )
    assert isinstance(reconstructed, models.ReconstructResponse) and len(reconstructed.mu) == 12
    encoded = _api("uploads.encode_v1_encode_post").sync(
        client=client, body=models.BodyEncodeV1EncodePost(file=file(), digit=4)
    )
    assert isinstance(encoded, models.EncodeResponse) and encoded.digit == 4
    transferred = _api("uploads.transfer_v1_transfer_post").sync(
        client=client, body=models.BodyTransferV1TransferPost(file=file())
    )
    assert isinstance(transferred, models.TransferResponse) and len(transferred.images) == 10


def test_generated_client_reads_the_typed_errors(generated) -> None:
    package, url = generated
    models = importlib.import_module("cvae_client.models")
    files = importlib.import_module("cvae_client.types")
    sample = _api("generation.sample_v1_sample_post")

    anonymous = package.Client(base_url=url, timeout=60)
    refused = sample.sync_detailed(client=anonymous, body=models.SampleRequest(digit=7))
    assert refused.status_code == 401 and isinstance(refused.parsed, models.ErrorResponse)

    client = package.AuthenticatedClient(base_url=url, token=KEY, timeout=60)
    invalid = sample.sync_detailed(client=client, body=models.SampleRequest(digit=7, n=100_000))
    assert invalid.status_code == 422 and isinstance(invalid.parsed, models.ErrorResponse)

    text = files.File(payload=io.BytesIO(b"not an image"), file_name="notes.txt", mime_type="text/plain")
    not_an_image = _api("uploads.encode_v1_encode_post").sync_detailed(
        client=client, body=models.BodyEncodeV1EncodePost(file=text)
    )
    assert not_an_image.status_code == 415 and "not an image" in not_an_image.parsed.detail
