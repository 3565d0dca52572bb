"""Operations: health, readiness, metrics, the access log, the API key, settings, the CLI (the device is in
test_device.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import shutil
import socket
from pathlib import Path

import pytest
import uvicorn
from app_support import tiny_settings
from fastapi.testclient import TestClient
from pydantic import ValidationError
from robustness import Recorder

from app import cli
from app import settings as settings_module
from app.batched import model_threads
from app.main import create_app
from app.middleware import BodyLimitMiddleware
from app.service import ModelService
from app.settings import Settings


def test_readiness_before_during_and_after_the_lifespan(tiny_checkpoints) -> None:
    app = create_app(tiny_settings(tiny_checkpoints))
    before = TestClient(app)  # not entered: the lifespan has not loaded the models
    assert before.get("/healthz").json() == {"status": "ok"}
    assert before.get("/readyz").status_code == 503
    not_ready = before.post("/v1/sample", json={"digit": 1})
    assert not_ready.status_code == 503 and not_ready.json()["detail"] and "retry-after" in not_ready.headers
    with TestClient(app) as started:
        assert started.get("/readyz").status_code == 200
        assert started.post("/v1/sample", json={"digit": 1}).status_code == 200
    assert before.get("/readyz").status_code == 503  # shut down: not ready again


def test_metrics_count_requests_by_route_and_status_and_images(client: TestClient) -> None:
    client.post("/v1/sample", json={"digit": 1, "n": 3})
    client.post("/v1/sample", json={"digit": 11})
    text = client.get("/metrics").text
    assert 'cvae_http_requests_total{method="POST",route="/v1/sample",status="200"}' in text
    assert 'cvae_http_requests_total{method="POST",route="/v1/sample",status="422"}' in text
    assert 'cvae_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/v1/sample"}' in text
    images = next(
        line
        for line in text.splitlines()
        if line.startswith('cvae_images_generated_total{endpoint="sample",model="tiny-cvae"}')
    )
    assert float(images.split()[-1]) >= 3


def test_one_access_log_line_per_request_with_its_latency(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cvae.access"):
        client.get("/healthz")
        client.post("/v1/sample", json={"digit": 12})
    lines = [record.getMessage() for record in caplog.records if record.name == "cvae.access"]
    assert len(lines) == 2
    assert '"GET /healthz" 200' in lines[0] and '"POST /v1/sample" 422' in lines[1]
    assert all(line.endswith("ms") for line in lines)


@pytest.fixture(scope="module")
def keyed_client(tiny_checkpoints):
    with TestClient(create_app(tiny_settings(tiny_checkpoints, api_key="s3cret-key"))) as started:
        yield started


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer s3cret-ke"},
        {"Authorization": "Bearer s3cret-key-and-more"},
        {"Authorization": "s3cret-key"},
        {"Authorization": "Basic czNjcmV0LWtleQ=="},
    ],
)
def test_api_key_is_required_on_v1(keyed_client: TestClient, headers: dict) -> None:
    response = keyed_client.get("/v1/model", headers=headers)
    assert response.status_code == 401 and response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_api_key_is_checked_before_the_body(keyed_client: TestClient) -> None:
    assert keyed_client.post("/v1/sample", json={"digit": 99}).status_code == 401


def test_right_api_key_and_open_operations(keyed_client: TestClient) -> None:
    assert keyed_client.get("/v1/model", headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
    for path in ("/healthz", "/readyz", "/metrics"):
        assert keyed_client.get(path).status_code == 200


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVAE_MAX_N", "5")
    monkeypatch.setenv("CVAE_DEVICE", "cuda:1")
    monkeypatch.setenv("CVAE_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("CVAE_API_KEY", "")
    settings = Settings()
    assert (settings.max_n, settings.device, settings.log_level, settings.api_key) == (
        5,
        "cuda:1",
        "debug",
        None,
    )
    assert settings.checkpoint == Path("checkpoints/cvae-mnist")
    assert settings.classifier == Path("checkpoints/digit-classifier")
    monkeypatch.setenv("CVAE_DEVICE", "gpu")
    with pytest.raises(ValidationError):
        Settings()


def test_max_n_comes_from_the_settings(tiny_checkpoints) -> None:
    with TestClient(create_app(tiny_settings(tiny_checkpoints, max_n=3))) as limited:
        assert limited.post("/v1/sample", json={"digit": 1, "n": 3}).status_code == 200
        assert limited.post("/v1/sample", json={"digit": 1, "n": 4}).status_code == 422
        assert limited.post("/v1/decode", json={"digit": 1, "z": [[0.0] * 4] * 4}).status_code == 422
        assert limited.get("/v1/sample.png", params={"digit": 1, "n": 4}).status_code == 422


def _through_body_limit(
    chunks: int, content_type: bytes, chunk_delay_s: float = 0.0, timeout_s: float = 30
) -> tuple[list[dict], int, bool]:
    """A body of `chunks` chunks of 1000 bytes through a body limit of 2 kB for uploads, 1 kB for the rest:
    what was sent back, how many bytes were read, whether the app saw the request."""
    received: list[int] = []
    sent: list[dict] = []
    reached: list[bool] = []

    async def receive() -> dict:
        await asyncio.sleep(chunk_delay_s)
        received.append(1000)
        return {"type": "http.request", "body": b"\0" * 1000, "more_body": len(received) < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    async def app(scope, receive, send) -> None:
        reached.append(True)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/encode",
        "headers": [(b"content-type", content_type)],
    }
    limit = BodyLimitMiddleware(
        app, max_bytes=2000, max_json_bytes=1000, timeout_s=timeout_s, drain_bytes=10_000
    )
    asyncio.run(limit(scope, receive, send))
    return sent, sum(received), bool(reached)


def test_body_limit_stops_reading_past_the_limit() -> None:
    """At the ASGI level: a chunked upload of 100 kB against a 2 kB limit: the app never sees it, and the rest
    is read (to be thrown away, so that the client can read the 413) only up to the drain limit."""
    sent, received, reached = _through_body_limit(100, b"multipart/form-data; boundary=x")
    assert sent[0]["status"] == 413 and 12_000 <= received <= 14_000 and not reached
    assert b"2000 bytes" in sent[1]["body"]


def test_a_body_that_is_not_an_upload_has_the_smaller_limit() -> None:
    assert _through_body_limit(2, b"multipart/form-data; boundary=x")[2]
    sent, _, reached = _through_body_limit(2, b"application/json")
    assert sent[0]["status"] == 413 and b"1000 bytes" in sent[1]["body"] and not reached


def test_a_body_that_trickles_in_gets_408() -> None:
    sent, received, reached = _through_body_limit(1, b"application/json", chunk_delay_s=0.5, timeout_s=0.1)
    assert sent[0]["status"] == 408 and received == 0 and not reached
    assert sent[0]["headers"][-1] == (b"connection", b"close")


@pytest.mark.usefixtures("cli_environment")
def test_cli_serves_the_models_it_loaded_without_touching_the_environment(
    tiny_checkpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker: the checkpoints are loaded once, here, and that very service is what the app serves."""
    cvae, classifier = tiny_checkpoints
    loads: list[ModelService] = []
    real_load = ModelService.load

    def counting_load(*args: object) -> ModelService:
        loads.append(real_load(*args))
        return loads[-1]

    served: dict = {}
    monkeypatch.setenv("CVAE_EXTRA_MODELS", "[]")
    monkeypatch.setattr(ModelService, "load", counting_load)
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    args = ["--checkpoint", str(cvae), "--classifier", str(classifier), "--device", "cpu", "--port", "8123"]
    assert cli.main([*args, "--workers", "1"]) == 0
    assert len(loads) == 1 and served["app"].state.preloaded == loads
    assert served["app"].state.settings.checkpoint == cvae and served["port"] == 8123
    assert "CVAE_CHECKPOINT" not in os.environ and "CVAE_DEVICE" not in os.environ
    with TestClient(served["app"]) as client:  # the lifespan takes the loaded models, loads nothing
        assert client.post("/v1/sample", json={"digit": 1}).status_code == 200
    assert len(loads) == 1


@pytest.fixture
def supervised(monkeypatch: pytest.MonkeyPatch) -> dict:
    """What cvae-serve hands uvicorn's supervisor of workers (its config and sockets), which never starts."""
    handed: dict = {}

    class Supervisor:
        def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
            handed.update(config=config, sockets=sockets)

        def run(self) -> None:
            for sock in handed["sockets"]:
                sock.close()

    monkeypatch.setattr(cli, "Multiprocess", Supervisor)
    return handed


@pytest.mark.usefixtures("cli_environment")
def test_cli_hands_its_workers_the_settings_not_the_environment(
    tiny_checkpoints, supervised: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--workers 2: the Settings object goes to uvicorn's supervisor, which pickles it for each worker it
    spawns; nothing is written to os.environ, and a worker's app loads its own models."""
    cvae, classifier = tiny_checkpoints
    monkeypatch.setenv("CVAE_EXTRA_MODELS", "[]")
    args = ["--checkpoint", str(cvae), "--classifier", str(classifier), "--device", "cpu", "--port", "0"]
    assert cli.main([*args, "--workers", "2"]) == 0
    assert "CVAE_CHECKPOINT" not in os.environ and "CVAE_DEVICE" not in os.environ
    config = pickle.loads(pickle.dumps(supervised["config"]))  # as a spawned worker receives it
    assert config.workers == 2 and config.factory
    app = config.app()
    assert app.state.settings.checkpoint == cvae and app.state.settings.device == "cpu"
    assert app.state.preloaded is None  # the worker's lifespan loads its own models
    with TestClient(app) as client:
        assert client.post("/v1/sample", json={"digit": 1}).status_code == 200


@pytest.mark.usefixtures("cli_environment")
def test_cli_serves_one_worker_per_usable_cpu_by_default(
    tiny_checkpoints, supervised: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --workers and no CVAE_WORKERS: one worker per CPU the process may use (app/cpus.py, here 6 of a
    host's more), each worker with its share of them as model threads; CVAE_WORKERS=3, two threads each."""
    cvae, classifier = tiny_checkpoints
    monkeypatch.setenv("CVAE_EXTRA_MODELS", "[]")
    monkeypatch.setattr(settings_module, "usable_cpus", lambda: 6)
    args = ["--checkpoint", str(cvae), "--classifier", str(classifier), "--device", "cpu", "--port", "0"]
    for workers, threads in ((None, 1), (3, 2)):
        if workers is not None:
            monkeypatch.setenv("CVAE_WORKERS", str(workers))
        assert cli.main(args) == 0
        config = pickle.loads(pickle.dumps(supervised["config"]))
        assert config.workers == (workers or 6)
        app = config.app()
        assert app.state.settings.workers == (workers or 6) and model_threads(app.state.settings) == threads
    monkeypatch.setenv("CVAE_WORKERS", "1")
    served: dict = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **options: served.update(app=app))
    assert cli.main(args) == 0 and served["app"].state.settings.workers == 1


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.get("/v1/model", headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


def test_cors_allows_only_the_configured_origins(
    tiny_checkpoints, monkeypatch: pytest.MonkeyPatch, robustness: Recorder
) -> None:
    monkeypatch.setenv("CVAE_CORS_ORIGINS", '["https://digits.example"]')
    settings = tiny_settings(tiny_checkpoints)
    with TestClient(create_app(settings)) as client:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        allowed = client.options("/v1/sample", headers={"Origin": "https://digits.example", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "https://digits.example"
        other = client.get("/v1/model", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
    robustness.record(
        sent="CVAE_CORS_ORIGINS with one origin: a preflight from it, a request from another origin",
        count=2,
        came_back="the named origin allowed; the other origin got no Access-Control-Allow-Origin "
        "(and none is sent when the setting is left out: test_cors_is_off_by_default)",
    )


@pytest.mark.usefixtures("cli_environment")
@pytest.mark.parametrize(
    "damage", ["missing", "truncated weights", "flipped byte", "another architecture", "a classifier"]
)
def test_cli_refuses_a_damaged_or_foreign_checkpoint_in_one_line(
    tiny_checkpoints, tmp_path: Path, capsys: pytest.CaptureFixture, damage: str, robustness: Recorder
) -> None:
    cvae, classifier = tiny_checkpoints
    checkpoint = shutil.copytree(cvae, tmp_path / "cvae")
    if damage == "missing":
        checkpoint = tmp_path / "nowhere"
    elif damage == "truncated weights":
        weights = checkpoint / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "flipped byte":
        weights = bytearray((checkpoint / "model.safetensors").read_bytes())
        weights[len(weights) // 2] ^= 0xFF
        (checkpoint / "model.safetensors").write_bytes(bytes(weights))
    elif damage == "another architecture":
        config = json.loads((checkpoint / "config.json").read_text())
        config["model"]["arch"] = "mlp"
        (checkpoint / "config.json").write_text(json.dumps(config))
    else:
        checkpoint = classifier
    code = cli.main(["--checkpoint", str(checkpoint), "--classifier", str(classifier), "--device", "cpu"])
    error = capsys.readouterr().err
    assert code != 0 and error.count("\n") == 1 and error.startswith("cvae-serve: "), error
    assert str(checkpoint) in error  # it names the directory or the file
    robustness.record(
        sent=f"cvae-serve started on a checkpoint: {damage}",
        count=1,
        came_back=f"exit status {code}, one line: {error.strip().replace(str(tmp_path), '<tmp>')}",
    )


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, and no model named in the environment."""
    for name in ("CVAE_CHECKPOINT", "CVAE_CLASSIFIER", "CVAE_EXTRA_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_started_away_from_the_repository_it_says_how_to_name_the_models(elsewhere: Path, capsys) -> None:
    tmp_path = elsewhere
    assert cli.main([]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "checkpoints/cvae-mnist" in error
    assert "--checkpoint" in error and "CVAE_CHECKPOINT" in error and str(tmp_path) in error


@pytest.mark.usefixtures("elsewhere")
def test_a_wrong_checkpoint_from_the_repository_root_is_named_without_the_root_advice(capsys) -> None:
    for name in ("checkpoint", "classifier"):  # the defaults are here: this is a repository root
        Path(Settings.model_fields[name].default).mkdir(parents=True)
    assert cli.main(["--checkpoint", "checkpoints/cvae-mnst"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no such directory: checkpoints/cvae-mnst" in error
    assert "run from the repository root" not in error


def test_a_busy_port_is_refused_before_any_model_loads(monkeypatch, capsys) -> None:
    def load(settings: Settings) -> None:
        raise AssertionError("the models were loaded before the port was checked")

    monkeypatch.setattr(cli, "_load", load)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["--port", str(port), "--workers", "1"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"port {port} of 127.0.0.1 is in use" in error and "--port" in error
    assert cli.port_problem("127.0.0.1", port) is None  # free again once closed


def test_the_readme_lists_every_setting() -> None:
    """The full settings table lives in docs/api.md (the README shows the common ones and links to it)."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    missing = [name for name in Settings.model_fields if f"`CVAE_{name.upper()}`" not in page]
    assert not missing, f"docs/api.md's settings table lacks {missing}"


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz"])
def test_probes_answer_head_like_get_without_a_body(client: TestClient, path: str) -> None:
    """Uptime monitors and load balancers send HEAD: the same status and headers as GET, no body."""
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
