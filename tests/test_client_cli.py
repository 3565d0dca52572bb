"""`cvae-client` against the real service over HTTP: what each command writes and prints, and its exit
status: 0 done, 1 the service refused or was unreachable (one line on stderr), 2 bad arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from client_support import KEY, client_test_server, grid_tiles, png
from PIL import Image

from benchmarks.serving_servers import Server, free_port
from cvae_client import Client, Number
from cvae_client.calls import Call
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


def _printed_boxes(line: str) -> list[tuple[int, ...]]:
    """The boxes at the end of `number`'s line: `...; boxes x0,y0,x1,y1 x0,y0,x1,y1 ...`."""
    return [tuple(map(int, box.split(","))) for box in line.rsplit("; boxes ", 1)[1].split()]


def test_number_writes_the_png_and_prints_its_boxes(
    service: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["number", "2026", "--seed", "7"]) == 0
    with Client(service.url, api_key=KEY) as cvae:
        expected = cvae.number("2026", seed=7)
    width = expected.image.shape[1]
    line = capsys.readouterr().out
    summary = f"wrote number-2026-seed-7.png: 2026 ({width}x28), seed 7 (--seed 7 gives it again); boxes "
    assert line.startswith(summary)
    assert line.count("\n") == 1 and _printed_boxes(line) == list(expected.boxes)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "number-2026-seed-7.png")), expected.image)

    out = tmp_path / "tall.png"
    assert main(["number", "0071", "--height", "56", "--temperature", "0.5", "--out", str(out)]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"wrote {out}: 0071 (") and len(_printed_boxes(line)) == 4
    assert Image.open(out).size[1] == 56


def test_number_in_the_style_of_an_image(
    service: Server,
    seven_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--style-of sends the image to /v1/encode, and its mu as the number's z."""
    answers: list[Any] = []
    send = Client.send

    def recording(client: Client, call: Call[Any]) -> Any:
        answers.append(send(client, call))
        return answers[-1]

    monkeypatch.setattr(Client, "send", recording)
    out = tmp_path / "mine.png"
    assert main(["number", "2026", "--seed", "7", "--style-of", str(seven_file), "-o", str(out)]) == 0
    assert f"2026 in the style of {seven_file} (" in capsys.readouterr().out
    written = answers[-1]
    assert isinstance(written, Number)

    with Client(service.url, api_key=KEY) as cvae:
        mu = cvae.encode(seven_file).mu
        drawn = cvae.number("2026", seed=7)
    np.testing.assert_array_equal(written.z, mu)
    pixels = np.asarray(Image.open(out))
    np.testing.assert_array_equal(pixels, written.image)
    assert not np.array_equal(pixels, drawn.image)  # not the seed's own style


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["model", "nope"], "HTTP 404: unknown model 'nope'"),
        (["sample", "12"], "HTTP 422: query.label: model cvae-mnist has the classes 0 to 9"),
        (["number", "12a"], "HTTP 422: body.text: Value error, a number is 1 to 16 of the digits 0-9"),
        (["number", "7", "--model", "cvae-fashion"], "HTTP 422: body.model: model cvae-fashion does not"),
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
        ["sample", "7", "-n", "four"],
        ["reconstruct", "no-such-file.png"],
        ["--url", "localhost:8000", "models"],
        ["dataset", "2", "--format", "zip"],
        ["number"],
        ["number", "2026", "--height", "tall"],
        ["number", "2026", "--style-of", "no-such-file.png"],
        ["teleport"],
    ],
)
def test_bad_arguments_exit_2(service: Server, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "cvae-client" in capsys.readouterr().err


def test_a_class_by_its_name(service: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Where the model names its classes, a name does as well as the index (any case); one image is one."""
    by_name, by_index = tmp_path / "by-name.png", tmp_path / "by-index.png"
    assert main(["sample", "sneaker", "--model", "cvae-fashion", "--seed", "3", "-o", str(by_name)]) == 0
    assert "1 image," in capsys.readouterr().out
    assert main(["sample", "7", "--model", "cvae-fashion", "--seed", "3", "-o", str(by_index)]) == 0
    assert by_name.read_bytes() == by_index.read_bytes()  # Sneaker is class 7 of Fashion-MNIST
    assert main(["sample", "seven", "-o", str(tmp_path / "x.png")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("cvae-client: no class 'seven' in model cvae-mnist (its classes: 0, 1, 2")
    assert not (tmp_path / "x.png").exists()


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
    # Readable as any new file of the user's (curl's 0644 under umask 022), not mkstemp's private 0600.
    mask = os.umask(0o022)
    os.umask(mask)
    assert written[0].stat().st_mode & 0o777 == 0o666 & ~mask
