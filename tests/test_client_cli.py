"""`cvae-client` against the real service over HTTP: what each command writes and prints, and its exit
status: 0 done, 1 the service refused or was unreachable (one line on stderr), 2 bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from client_support import KEY, client_test_server, grid_tiles, png
from PIL import Image

from benchmarks.serving_servers import Server, free_port
from cvae_client import Client
from cvae_client.cli import main

SCRIPT = Path(sys.executable).parent / "cvae-client"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with client_test_server(tmp_path_factory.mktemp("client-cli")) as running:
        yield running


@pytest.fixture
def service(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The service named the way a user would: in the environment."""
    monkeypatch.setenv("CVAE_URL", server.url)
    monkeypatch.setenv("CVAE_API_KEY", KEY)
    return server


@pytest.fixture
def seven_file(server: Server, tmp_path: Path) -> Path:
    with Client(server.url, api_key=KEY) as cvae:
        seven = cvae.sample(7, n=1, seed=42).images[0]
    path = tmp_path / "my-digit.png"
    path.write_bytes(png(seven))
    return path


def test_sample_writes_a_png_grid(
    service: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sevens.png"
    assert main(["sample", "7", "-n", "4", "--seed", "42", "--nrow", "2", "-o", str(out)]) == 0
    assert "seed 42" in capsys.readouterr().out
    grid = np.asarray(Image.open(out))
    assert grid.shape == (62, 62)
    with Client(service.url, api_key=KEY) as cvae:
        expected = cvae.sample(7, n=4, seed=42).images
    np.testing.assert_array_equal(grid_tiles(grid, nrow=2, n=4), expected)


def test_reconstruct_prints_the_digit(
    service: Server, seven_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reconstruction.png"
    assert main(["reconstruct", str(seven_file), "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "7"
    assert lines[1].startswith("label: 7 (inferred by the classifier, probability 0.")
    assert lines[2].startswith("is_digit: yes (ood_score ")
    assert lines[3].startswith("probabilities: ")  # a note line only when the answer has notes
    assert Image.open(out).size == (28, 28)

    assert main(["reconstruct", str(seven_file), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["digit"] == 7 and answer["digit_source"] == "inferred" and "reconstruction" in answer

    assert main(["reconstruct", str(seven_file), "--digit", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "1" and lines[1].startswith("label: 1 (given, probability 0.0")


def test_encode_model_and_models_print(
    service: Server, seven_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encode", str(seven_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    mu = next(line for line in lines if line.startswith("mu: "))
    assert lines[0] == "7" and len(mu.split()) == 1 + 12

    assert main(["model", "cvae-fashion"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cvae-fashion: conv CVAE, latent_dim 12") and "Sneaker" in out

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["cvae-mnist", "cvae-fashion"]
    assert "(default)" in lines[0]

    assert main(["model", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["latent_dim"] == 12


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["model", "nope"], "HTTP 404: unknown model 'nope'"),
        (["sample", "12"], "HTTP 422: query.label: model cvae-mnist has the classes 0 to 9"),
    ],
)
def test_a_server_error_is_one_line_and_exit_1(
    service: Server, argv: list[str], status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"cvae-client: {status}")


def test_a_wrong_key_or_no_service_is_exit_1(
    service: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CVAE_API_KEY", "wrong")
    assert main(["models"]) == 1
    assert capsys.readouterr().err == "cvae-client: HTTP 401: missing or wrong API key\n"

    assert main(["--url", f"http://127.0.0.1:{free_port()}", "models"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the service" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["sample"],
        ["sample", "seven"],
        ["sample", "7", "-n", "four"],
        ["reconstruct", "no-such-file.png"],
        ["--url", "localhost:8000", "models"],
        ["dataset", "2", "--format", "zip"],
        ["teleport"],
    ],
)
def test_bad_arguments_exit_2(service: Server, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "cvae-client" in capsys.readouterr().err


def test_the_console_script(service: Server, tmp_path: Path) -> None:
    """Installed by client/pyproject.toml's [project.scripts], main()'s return value its exit status."""
    done = subprocess.run(
        [SCRIPT, "sample", "3", "-o", tmp_path / "three.png"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "three.png").size == (32, 32)  # one tile and its gutters
    refused = subprocess.run([SCRIPT, "model", "nope"], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.startswith("cvae-client: HTTP 404")


def test_dataset_command(service: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Into a directory under the service's file name (GET /v1/dataset, Content-Disposition)."""
    assert main(["dataset", "2", "--seed", "1", "-o", str(tmp_path)]) == 0
    written = list(tmp_path.iterdir())
    assert len(written) == 1 and written[0].suffix == ".npz" and written[0].stat().st_size > 0
    assert capsys.readouterr().out.startswith(f"wrote {written[0]} (")

    assert main(["dataset", "2", "--seed", "1", "-o", f"{tmp_path}/new/"]) == 0  # not there yet: made
    assert (tmp_path / "new" / written[0].name).read_bytes() == written[0].read_bytes()
