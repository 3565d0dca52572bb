"""The Python client (cvae_client) against the real service over HTTP: every method, every kind of error, the
async twin. The service is cvae-serve with the shipped models, in its own process (tests/client_support.py).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from client_support import KEY, MAX_UPLOAD_BYTES, client_test_server, grid_tiles, png
from PIL import Image

from benchmarks.serving_servers import Server, free_port
from cvae_client import AsyncClient, Client, CVAEError, calls
from cvae_client.types import Number, Samples

LATENT_DIM = 12  # of the shipped models


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with client_test_server(tmp_path_factory.mktemp("client")) as running:
        yield running


@pytest.fixture
def cvae(server: Server) -> Iterator[Client]:
    with Client(server.url, api_key=KEY) as client:
        yield client


@pytest.fixture
def seven(cvae: Client) -> np.ndarray:
    """A 7 the service drew itself: an upload whose digit is known."""
    return cvae.sample(7, n=1, seed=42).images[0]


def _error(call: Callable[..., object], *args: object, **kwargs: object) -> CVAEError:
    with pytest.raises(CVAEError) as raised:
        call(*args, **kwargs)
    return raised.value


# Generation ------------------------------------------------------------------------------------------


def test_sample_same_seed_same_images(cvae: Client) -> None:
    first = cvae.sample(7, n=4, seed=42)
    again = cvae.sample(digit=7, n=4, seed=42)
    other = cvae.sample(7, n=4, seed=43)

    assert isinstance(first, Samples)
    assert first.images.shape == (4, 28, 28) and first.images.dtype == np.uint8
    assert first.images.max() > 200 and first.images.mean() > 10  # digits, not blank tiles
    assert first.latents.shape == (4, LATENT_DIM)
    assert (first.model, first.label, first.digit, first.class_name) == ("cvae-mnist", 7, 7, "7")
    assert (first.n, first.seed, first.draws, first.temperature) == (4, 42, 4, 1.0)
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.latents, first.latents)
    assert not np.array_equal(other.images, first.images)

    pictures = first.pil_images()
    assert [(p.mode, p.size) for p in pictures] == [("L", (28, 28))] * 4
    np.testing.assert_array_equal(np.asarray(pictures[2]), first.images[2])


def test_a_seed_left_out_is_chosen_and_returned(cvae: Client) -> None:
    drawn = cvae.sample(3, n=2)
    np.testing.assert_array_equal(cvae.sample(3, n=2, seed=drawn.seed).images, drawn.images)


def test_results_are_frozen(cvae: Client) -> None:
    samples = cvae.sample(1, n=1, seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        samples.seed = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        samples.images[0, 0, 0] = 1
    assert "uint8 array (1, 28, 28)" in repr(samples)


def test_sample_options_reach_the_service(cvae: Client) -> None:
    plain = cvae.sample(7, n=3, seed=5)
    cool = cvae.sample(7, n=3, seed=5, temperature=0.5)
    np.testing.assert_allclose(cool.latents, 0.5 * plain.latents)  # the prior's spread, scaled

    sure = cvae.sample(7, n=2, seed=5, min_confidence=0.9)
    assert sure.images.shape == (2, 28, 28) and sure.draws >= 2

    sneakers = cvae.sample(label=7, n=2, seed=1, model="cvae-fashion")
    assert (sneakers.model, sneakers.label, sneakers.class_name) == ("cvae-fashion", 7, "Sneaker")


def test_sample_png_is_the_samples_as_one_grid(cvae: Client) -> None:
    samples = cvae.sample(7, n=4, seed=42)
    grid = cvae.sample_png(7, n=4, seed=42, nrow=2)
    assert (grid.seed, grid.draws) == (42, 4)
    image = grid.image()
    assert (image.mode, image.size) == ("L", (62, 62))
    np.testing.assert_array_equal(grid_tiles(np.asarray(image), nrow=2, n=4), samples.images)
    assert grid.png.startswith(b"\x89PNG")


def test_decode_gives_back_the_sampled_images(cvae: Client) -> None:
    samples = cvae.sample(4, n=3, seed=9)
    np.testing.assert_array_equal(cvae.decode(samples.latents, 4).images, samples.images)
    one = cvae.decode(samples.latents[1].tolist(), label=4)  # a single vector, as a list
    np.testing.assert_array_equal(one.images, samples.images[1:2])


def test_interpolate_between_seeds_or_latents(cvae: Client) -> None:
    start, end = (cvae.sample(2, n=1, seed=seed) for seed in (42, 43))
    walk = cvae.interpolate(2, seeds=(42, 43), steps=5)
    assert walk.images.shape == (5, 28, 28) and walk.latents.shape == (5, LATENT_DIM)
    assert (walk.steps, walk.label) == (5, 2)
    np.testing.assert_array_equal(walk.images[[0, -1]], np.concatenate([start.images, end.images]))

    by_z = cvae.interpolate(2, z=(start.latents[0], end.latents[0]), steps=3)
    np.testing.assert_array_equal(by_z.images[[0, -1]], walk.images[[0, -1]])


# Numbers ---------------------------------------------------------------------------------------------


def test_number_same_seed_same_image_a_box_per_digit(cvae: Client) -> None:
    first = cvae.number("2026", seed=7)
    again = cvae.number("2026", seed=7)
    other = cvae.number("2026", seed=8)

    assert isinstance(first, Number)
    assert (first.model, first.text, first.seed, first.temperature, first.height) == (
        "cvae-mnist",
        "2026",
        7,
        1.0,
        28,
    )
    assert first.image.dtype == np.uint8 and first.image.shape[0] == 28 and first.image.max() > 200
    assert first.z.shape == (LATENT_DIM,)
    assert again.raw["image"] == first.raw["image"] and again.boxes == first.boxes
    np.testing.assert_array_equal(again.z, first.z)
    assert other.raw["image"] != first.raw["image"]

    assert len(first.boxes) == 4 and all(len(box) == 4 for box in first.boxes)
    lefts = [x0 for x0, _, _, _ in first.boxes]
    assert lefts == sorted(lefts)  # left to right
    picture = first.pil_image()
    assert (picture.mode, picture.size) == ("L", first.image.shape[::-1])
    assert all(np.asarray(picture.crop(box)).max() > 128 for box in first.boxes)  # each box holds ink
    assert "uint8 array (28, " in repr(first)

    zeros = cvae.number("0071", seed=7, height=56, temperature=0.5)  # leading zeros are digits too
    assert (zeros.text, len(zeros.boxes), zeros.image.shape[0], zeros.height) == ("0071", 4, 56, 56)
    np.testing.assert_allclose(zeros.z, 0.5 * first.z, rtol=1e-6)  # the seed's style, its spread scaled


def test_number_png_is_the_number_as_one_png(cvae: Client) -> None:
    number = cvae.number("2026", seed=7)
    written = cvae.number_png("2026", seed=7)
    assert written.seed == 7 and written.boxes == number.boxes
    assert written.png == base64.b64decode(number.raw["image"])  # the same bytes, both ways
    assert written.png == cvae.number_png("2026", seed=7).png
    np.testing.assert_array_equal(np.asarray(written.image()), number.image)
    assert len(cvae.number_png("12345").boxes) == 5


def test_number_in_a_given_style(cvae: Client, seven: np.ndarray) -> None:
    mu = cvae.encode(seven).mu
    mine = cvae.number("2026", seed=7, z=mu)
    np.testing.assert_allclose(mine.z, mu, rtol=1e-6)
    assert mine.raw["image"] != cvae.number("2026", seed=7).raw["image"]  # not the seed's style
    as_list = cvae.number("2026", seed=7, z=mu.tolist())
    assert as_list.raw["image"] == mine.raw["image"]

    short = _error(cvae.number, "1", z=[0.0, 0.0])
    assert short.status_code == 422 and f"body.z: the style needs {LATENT_DIM} numbers" in str(short)


def test_what_is_not_a_number_is_422(cvae: Client) -> None:
    body = _error(cvae.number, "12a")
    assert body.status_code == 422 and "body.text: Value error, a number is 1 to 16 of the" in str(body)
    query = _error(cvae.number_png, "12a")
    assert query.status_code == 422 and "query.text: " in str(query)
    assert _error(cvae.number, "1" * 17).status_code == 422
    clothes = _error(cvae.number, "7", model="cvae-fashion")
    assert clothes.status_code == 422
    assert "body.model: model cvae-fashion does not write digits" in str(clothes)


# Uploads ---------------------------------------------------------------------------------------------


def test_reconstruct_reads_the_digit(cvae: Client, seven: np.ndarray) -> None:
    answer = cvae.reconstruct(seven)
    assert (answer.digit, answer.label, answer.digit_source, answer.class_name) == (7, 7, "inferred", "7")
    assert answer.probabilities.shape == (10,) and int(np.argmax(answer.probabilities)) == 7
    assert answer.probabilities.sum() == pytest.approx(1, abs=1e-3)
    assert answer.elbo_probabilities is not None and answer.elbo_probabilities.shape == (10,)
    assert answer.is_digit is True and isinstance(answer.ood_score, float)
    assert answer.notes == ()
    assert answer.input.shape == answer.reconstruction.shape == (28, 28)
    assert answer.reconstruction.max() > 128
    assert answer.mu.shape == answer.logvar.shape == (LATENT_DIM,)
    assert answer.loss.elbo == pytest.approx(-(answer.loss.rec + answer.loss.kld))

    given = cvae.reconstruct(seven, 3)
    assert (given.digit, given.digit_source, given.elbo_probabilities) == (3, "given", None)


def test_uploads_take_a_path_bytes_a_pil_image_or_an_array(
    cvae: Client, seven: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "seven.png"
    path.write_bytes(png(seven))
    inputs = {
        "path": path,
        "str path": str(path),
        "bytes": png(seven),
        "PIL image": Image.fromarray(seven),
        "uint8 array": seven,
        "float array": seven / 255.0,
        "RGB array": np.repeat(seven[..., None], 3, axis=-1),
    }
    reference = cvae.encode(seven, label=7)
    for kind, image in inputs.items():
        answer = cvae.encode(image, label=7)
        np.testing.assert_allclose(answer.mu, reference.mu, atol=1e-5, err_msg=kind)
    with pytest.raises(TypeError):
        cvae.encode(12345)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one image"):
        cvae.encode(np.zeros((2, 28, 28), dtype=np.uint8))


def test_encode_and_transfer(cvae: Client, seven: np.ndarray) -> None:
    encoding = cvae.encode(seven)
    assert (encoding.digit, encoding.digit_source) == (7, "inferred")
    assert encoding.mu.shape == encoding.logvar.shape == (LATENT_DIM,)
    assert np.all(np.exp(encoding.logvar) < 1)  # a posterior narrower than the prior

    styled = cvae.transfer(seven)
    assert styled.images.shape == (10, 28, 28) and styled.input.shape == (28, 28)
    assert styled.digit == 7 and len(styled.pil_images()) == 10
    assert len({image.tobytes() for image in styled.images}) == 10  # one distinct image per class

    dress = cvae.transfer(seven, label=3, model="cvae-fashion")
    assert (dress.model, dress.class_name, dress.digit_source) == ("cvae-fashion", "Dress", "given")


# The models ------------------------------------------------------------------------------------------


def test_model_and_models(cvae: Client) -> None:
    digits = cvae.model()
    assert (digits.name, digits.latent_dim, digits.num_classes, digits.image_size) == (
        "cvae-mnist",
        12,
        10,
        28,
    )
    assert digits.class_names == tuple("0123456789") and digits.device == "cpu"
    assert "test_neg_elbo" in digits.metrics and digits.limits
    assert cvae.model("cvae-fashion").class_names[7] == "Sneaker"

    listed = cvae.models()
    assert listed.default == "cvae-mnist"
    assert [info.name for info in listed.models] == ["cvae-mnist", "cvae-fashion"]
    assert listed.raw["default"] == "cvae-mnist"


# Errors ----------------------------------------------------------------------------------------------


def test_an_invalid_field_is_422_with_a_readable_detail(cvae: Client) -> None:
    error = _error(cvae.sample, 7, n=0)
    assert error.status_code == 422 and isinstance(error.detail, list)
    assert "body.n: Input should be greater than or equal to 1" in str(error)
    assert str(error).startswith("HTTP 422: ")

    assert _error(cvae.interpolate, 2).status_code == 422  # neither seeds nor z
    assert _error(cvae.sample_png, 12).status_code == 422  # a digit past 9, in the query


def test_an_unknown_model_is_404_naming_the_known_ones(cvae: Client, seven: np.ndarray) -> None:
    for error in (
        _error(cvae.model, "nope"),
        _error(cvae.sample, 7, model="nope"),
        _error(cvae.encode, seven, model="nope"),
    ):
        assert error.status_code == 404
        assert "nope" in str(error.detail) and "cvae-fashion" in str(error.detail)


def test_upload_errors(cvae: Client, seven: np.ndarray) -> None:
    truncated = png(seven)[:60]
    assert _error(cvae.reconstruct, truncated).status_code == 400
    assert _error(cvae.reconstruct, b"").status_code == 400
    not_an_image = _error(cvae.encode, b"digits, in words: seven")
    assert not_an_image.status_code == 415 and "not an image" in str(not_an_image)
    too_big = _error(cvae.transfer, png(seven) + bytes(MAX_UPLOAD_BYTES))
    assert too_big.status_code == 413 and str(MAX_UPLOAD_BYTES) in str(too_big)


def test_the_api_key(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("", "wrong"):
        with Client(server.url, api_key=key) as client:
            error = _error(client.models)
        assert error.status_code == 401 and "API key" in str(error), key

    monkeypatch.setenv("CVAE_API_KEY", KEY)
    monkeypatch.setenv("CVAE_URL", server.url)
    with Client() as client:  # both from the environment
        assert client.models().default == "cvae-mnist"


def test_no_answer_is_an_error_without_status(server: Server) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with Client(nobody, api_key=KEY) as client:
        refused = _error(client.models)
    assert refused.status_code is None and "cannot reach" in str(refused) and nobody in str(refused)

    with Client(server.url, api_key=KEY, timeout=0.001) as client:
        slow = _error(client.sample, 7, n=256)
    assert slow.status_code is None and "no answer in time" in str(slow)


def test_an_answer_that_is_not_the_one_expected_is_an_error() -> None:
    """A 200 from something else at that address (a proxy's page) is a CVAEError, not a KeyError."""
    call = calls.models()
    page = httpx.Response(200, text="<html>hello</html>", request=httpx.Request("GET", "http://x/v1/models"))
    with pytest.raises(CVAEError, match="unexpected answer to GET /v1/models") as raised:
        call.answer(page)
    assert raised.value.status_code == 200


# The async twin --------------------------------------------------------------------------------------


def test_async_client_gives_the_same_answers(server: Server, cvae: Client, seven: np.ndarray) -> None:
    async def calls_at_once() -> tuple:
        async with AsyncClient(server.url, api_key=KEY) as client:
            answers = await asyncio.gather(
                client.sample(7, n=4, seed=42),
                client.sample_png(7, n=4, seed=42),
                client.reconstruct(seven),
                client.models(),
                client.number("2026", seed=7),
            )
            with pytest.raises(CVAEError) as unknown:
                await client.model("nope")
            return (*answers, unknown.value)

    samples, grid, reconstruction, listed, number, unknown = asyncio.run(calls_at_once())
    assert number.raw["image"] == cvae.number("2026", seed=7).raw["image"]
    np.testing.assert_array_equal(samples.images, cvae.sample(7, n=4, seed=42).images)
    assert grid.png == cvae.sample_png(7, n=4, seed=42).png
    np.testing.assert_array_equal(reconstruction.mu, cvae.reconstruct(seven).mu)
    assert reconstruction.digit == 7 and listed.default == "cvae-mnist"
    assert unknown.status_code == 404

    async def refused() -> CVAEError:
        async with AsyncClient(f"http://127.0.0.1:{free_port()}", api_key=KEY) as client:
            with pytest.raises(CVAEError) as raised:
                await client.models()
            return raised.value

    assert asyncio.run(refused()).status_code is None


# Datasets (GET /v1/dataset) --------------------------------------------------------------------------


def test_dataset_download(server: Server, cvae: Client, tmp_path: Path) -> None:
    """Held in memory, streamed to a file, streamed into a directory under the service's name, and by the
    async client: the same bytes for the same seed."""
    held = cvae.dataset(2, seed=1)
    assert held.path is None and held.content and held.filename.endswith(".npz") and held.seed == 1
    with np.load(io.BytesIO(held.content)) as arrays:
        assert any(arrays[name].shape[:1] == (20,) for name in arrays.files)  # 2 of each of 10 classes

    to_file = cvae.dataset(2, seed=1, to=tmp_path / "mine.npz")
    assert to_file.path == tmp_path / "mine.npz" and to_file.content is None
    into_dir = cvae.dataset(2, "npz", seed=1, to=tmp_path)
    assert into_dir.path == tmp_path / held.filename
    assert to_file.path.read_bytes() == into_dir.path.read_bytes() == held.content
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted({"mine.npz", held.filename})  # no .part

    idx = cvae.dataset(2, "idx", seed=1)
    assert idx.content and idx.content != held.content and idx.filename != held.filename

    async def download() -> bytes:
        async with AsyncClient(server.url, api_key=KEY) as client:
            written = await client.dataset(2, seed=1, to=tmp_path / "async.npz")
            assert written.path is not None
            return written.path.read_bytes()

    assert asyncio.run(download()) == held.content
    made = cvae.dataset(2, seed=1, to=f"{tmp_path}/new/")  # a directory that is not there yet
    assert made.path == tmp_path / "new" / held.filename and made.path.read_bytes() == held.content
    assert _error(cvae.dataset, 2, "zip").status_code == 422  # type: ignore[arg-type]


def test_the_client_imports_nothing_of_the_service() -> None:
    """cvae_client speaks only HTTP, so it installs and runs without torch, app/, model/, training/."""
    code = (
        "import sys, cvae_client, cvae_client.cli\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'app', 'model', 'training', 'torch'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
