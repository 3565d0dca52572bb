"""The client as a distribution of its own (client/, `cvae-digits-client`): its wheel holds `cvae_client` and
`cvae-client` and depends on exactly what the code imports; installed alone in a fresh venv, without torch
or any of the service, `Client` and `cvae-client` work against the real service.

The wheel's build takes setuptools, and the venv httpx, numpy and Pillow, from the package index; where it
cannot be reached, the tests that need them skip and say so.
"""

from __future__ import annotations

import ast
import email
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import numpy as np
import pytest
from client_support import KEY, client_test_server, png
from packaging.requirements import Requirement
from PIL import Image

from benchmarks.serving_servers import Server
from cvae_client import Client

ROOT = Path(__file__).resolve().parents[1]
CLIENT_DIR = ROOT / "client"
PACKAGE = CLIENT_DIR / "src" / "cvae_client"
DEPENDENCIES = {"httpx", "numpy", "pillow"}
# What pip says when the index is out of reach (offline, no DNS, a proxy refusing).
UNREACHABLE = (
    "Could not find a version",
    "No matching distribution",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
)
# Run inside the venv: every kind of call the issue names, printed as JSON for the test to check.
CALLS = """
import json, sys
from cvae_client import Client, CVAEError
with Client(sys.argv[1]) as cvae:
    sevens = cvae.sample(7, n=4, seed=42)
    answer = cvae.reconstruct(sevens.images[0])
    download = cvae.dataset(2, seed=1, to=sys.argv[2])
    try:
        cvae.model("nope")
        error = None
    except CVAEError as e:
        error = [e.status_code, str(e)]
print(json.dumps({"images": sevens.images.tolist(), "digit": answer.digit, "dataset": str(download.path),
                  "error": error}))
"""


def run(
    command: list[str | Path], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def pip(venv_python: Path, *args: str | Path, cwd: Path) -> None:
    """pip in the given interpreter; a skip when the package index cannot be reached, a failure otherwise."""
    done = run([venv_python, "-m", "pip", "--disable-pip-version-check", *args], cwd)
    output = done.stdout + done.stderr
    if done.returncode and any(sign in output for sign in UNREACHABLE):
        pytest.skip(f"the package index cannot be reached: {output.strip().splitlines()[-1]}")
    assert done.returncode == 0, output


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The client's wheel, built from a copy of client/ (setuptools writes build/ beside the sources)."""
    root = tmp_path_factory.mktemp("client-wheel")
    source = root / "client"
    shutil.copytree(CLIENT_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip(Path(sys.executable), "wheel", "--quiet", "--no-deps", "--wheel-dir", root / "dist", source, cwd=root)
    (built,) = (root / "dist").glob("cvae_digits_client-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed and nothing else of the project: its bin/ directory."""
    root = tmp_path_factory.mktemp("client-venv")
    done = run([sys.executable, "-m", "venv", root / "venv"], root)
    assert done.returncode == 0, done.stderr
    bin_dir = root / "venv" / "bin"
    pip(bin_dir / "python", "install", "--quiet", "--constraint", ROOT / "constraints.txt", wheel, cwd=root)
    return bin_dir


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with client_test_server(tmp_path_factory.mktemp("client-package")) as running:
        yield running


@pytest.fixture
def user_env(server: Server) -> dict[str, str]:
    """A user's environment: the service named in it, and no PYTHONPATH that could reach the repository."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return {**env, "CVAE_URL": server.url, "CVAE_API_KEY": KEY}


def third_party_imports() -> set[str]:
    """The top-level modules cvae_client imports from outside the standard library and itself."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"cvae_client"}


def test_the_client_depends_on_what_it_imports() -> None:
    distributions = packages_distributions()
    assert {distributions[name][0].lower() for name in third_party_imports()} == DEPENDENCIES
    declared = tomllib.loads((CLIENT_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {Requirement(spec).name.lower() for spec in declared} == DEPENDENCIES


def test_the_wheel_holds_the_client_alone(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        info = "-".join(wheel.name.split("-")[:2]) + ".dist-info"  # cvae_digits_client-0.1.0.dist-info
        assert {name.split("/")[0] for name in archive.namelist()} == {"cvae_client", info}
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        scripts = archive.read(f"{info}/entry_points.txt").decode()
    assert {Requirement(spec).name.lower() for spec in metadata.get_all("Requires-Dist")} == DEPENDENCIES
    assert "cvae-client = cvae_client.cli:main" in scripts


def test_the_venv_has_no_torch_nor_the_service(venv: Path, tmp_path: Path) -> None:
    code = (
        "import importlib.util\n"
        "print([m for m in ('torch', 'fastapi', 'app', 'model', 'training', 'client', 'cvae_client')"
        " if importlib.util.find_spec(m)])"
    )
    done = run([venv / "python", "-c", code], tmp_path)
    assert done.stdout.strip() == "['cvae_client']", done.stderr
    assert "No module named 'torch'" in run([venv / "python", "-c", "import torch"], tmp_path).stderr


def test_client_from_the_venv(venv: Path, server: Server, user_env: dict[str, str], tmp_path: Path) -> None:
    done = run([venv / "python", "-c", CALLS, server.url, f"{tmp_path}/"], tmp_path, user_env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    with Client(server.url, api_key=KEY) as cvae:  # the project's own venv, for the same seed
        expected = cvae.sample(7, n=4, seed=42).images
        held = cvae.dataset(2, seed=1)
    np.testing.assert_array_equal(np.array(answer["images"], dtype=np.uint8), expected)
    assert answer["digit"] == 7
    assert Path(answer["dataset"]).read_bytes() == held.content
    assert answer["error"][0] == 404 and "unknown model 'nope'" in answer["error"][1]


def test_cvae_client_from_the_venv(
    venv: Path, server: Server, user_env: dict[str, str], tmp_path: Path
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run([venv / "cvae-client", *args], tmp_path, user_env)

    sampled = cli("sample", "7", "-n", "4", "--seed", "42", "-o", "sevens.png")
    assert sampled.returncode == 0, sampled.stderr
    assert "seed 42" in sampled.stdout and Image.open(tmp_path / "sevens.png").size == (62, 62)

    with Client(server.url, api_key=KEY) as cvae:
        (tmp_path / "seven.png").write_bytes(png(cvae.sample(7, n=1, seed=42).images[0]))
    read = cli("reconstruct", "seven.png", "-o", "rec.png")
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines()[0] == "7" and Image.open(tmp_path / "rec.png").size == (28, 28)

    written = cli("dataset", "2", "--seed", "1", "-o", "synthetic/")
    assert written.returncode == 0, written.stderr
    assert [path.suffix for path in (tmp_path / "synthetic").iterdir()] == [".npz"]

    refused = cli("model", "nope")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("cvae-client: HTTP 404: unknown model 'nope'")
