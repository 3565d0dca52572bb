"""The service on the shipped checkpoints: real uploads are recognised; the README's curl examples work."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from api_examples import API_PAGE, page_example, render, same_as_shown, upload_answer
from app_support import decode_png
from browser_support import shipped_settings
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from model import reading
from model.checkpoint import load_checkpoint
from model.inference import inference_form
from model.legibility import stored_foresight
from training import number_reading, real_world
from training.data import Split
from training.number_report import framed, write_number

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def shipped_client() -> Iterator[TestClient]:
    with TestClient(create_app(shipped_settings(device="auto", log_level="info"))) as client:
        yield client


def on_paper(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A 28x28 MNIST digit as dark ink on white paper, 4x larger, with uneven margins: a PNG."""
    ink = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.BILINEAR)
    left, top, right, bottom = rng.integers(20, 80, 4)
    page = Image.new("L", (112 + left + right, 112 + top + bottom), 255)
    page.paste(ink, (int(left), int(top)))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(png_base64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(png_base64))), dtype=np.float32) / 255


def test_held_out_digits_on_paper_are_recognised(shipped_client: TestClient, offline_split: Split) -> None:
    split = offline_split
    chosen = np.linspace(0, len(split.test_images) - 1, 200).astype(int)  # 20 of each digit
    rng = np.random.default_rng(0)
    correct, differences = 0, []
    for image, label in zip(split.test_images[chosen], split.test_labels[chosen], strict=True):
        response = shipped_client.post("/v1/reconstruct", files={"file": ("digit.png", on_paper(image, rng))})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["digit_source"] == "inferred"
        correct += body["digit"] == int(label)
        differences.append(np.abs(pixels(body["reconstruction"]) - pixels(body["input"])).mean())
    accuracy = correct / len(chosen)
    print(f"\ninferred digit accuracy {accuracy:.3f} on 200 held-out digits drawn on paper at 4x;")
    print(f"mean absolute difference reconstruction vs preprocessed input {np.mean(differences):.4f}")
    assert accuracy >= 0.95


def test_a_digit_on_ruled_paper_is_read_and_the_lines_are_said(
    shipped_client: TestClient, offline_split: Split
) -> None:
    """The held-out digits written on ruled paper (training/real_world.py) with the shipped models: the answer
    says the printed lines were removed where they touched the digit's strokes (faint lines that never do
    are left out unsaid), and the reading is that of the digit, not of the lines."""
    chosen = np.linspace(0, len(offline_split.test_images) - 1, 20).astype(int)
    rng = np.random.default_rng(1)
    correct = said = 0
    split = offline_split
    for image, label in zip(split.test_images[chosen], split.test_labels[chosen], strict=True):
        page = real_world.ruled_paper(image, int(label), rng)
        body = shipped_client.post("/v1/reconstruct", files={"file": ("page.jpg", page)}).json()
        said += any("printed lines" in note for note in body["notes"])
        correct += body["digit"] == int(label)
    assert correct >= 15 and said >= 10, (correct, said)


def test_a_digit_sent_to_the_fashion_model_is_flagged(
    shipped_client: TestClient, offline_split: Split
) -> None:
    """is_digit means "like this model's data": a handwritten digit is not a garment."""
    rng = np.random.default_rng(2)
    flagged = 0
    for image in offline_split.test_images[:20]:
        response = shipped_client.post(
            "/v1/reconstruct", data={"model": "cvae-fashion"}, files={"file": ("d.png", on_paper(image, rng))}
        )
        flagged += response.json()["is_digit"] is False
    assert flagged >= 18


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`cvae-serve` itself, on a free port of 127.0.0.1, from the repository root; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = Path(sys.executable).with_name("cvae-serve")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CVAE_")}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(script), "--port", str(port), "--device", "cpu"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=output,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_examples_work_as_written(served: str, tmp_path: Path) -> None:
    """Each line of the README's example, as written but for the port, against `cvae-serve` (`make serve`)."""
    commands = readme_commands()
    assert sum(command.startswith("curl ") for command in commands) >= 10
    for command in commands:
        shell = command.replace("http://localhost:8000", served)
        result = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, timeout=60)
        assert result.returncode == 0, (command, result.stderr)
        if not command.startswith("curl "):
            continue
        args = shlex.split(command)
        output = (tmp_path / args[args.index("-o") + 1]).read_bytes() if "-o" in args else result.stdout
        if output.startswith(b"\x89PNG"):
            continue
        if "/metrics" in command:
            assert b"cvae_http_requests_total" in output
        else:
            assert "detail" not in json.loads(output), (command, output[:300])


def test_fashion_samples_are_the_class_asked_for(shipped_client: TestClient) -> None:
    """/v1/sample of the shipped Fashion-MNIST model, 20 of each class through the API (PNGs, so rounded to
    8 bits), judged by its own classifier, agree with the sample accuracy that cvae-evaluate recorded in its
    config.json (within 5 points: 200 draws; the recorded figure is in docs/model.md)."""
    cvae = load_checkpoint(ROOT / "checkpoints" / "cvae-fashion", "cvae")
    recorded = cvae.config["metrics"]["conditional_sample_accuracy"]
    classifier = load_checkpoint(ROOT / "checkpoints" / "fashion-classifier", "classifier").model
    names = shipped_client.get("/v1/model", params={"model": "cvae-fashion"}).json()["class_names"]
    right = 0
    for label in range(len(names)):
        body = {"model": "cvae-fashion", "label": label, "n": 20, "seed": label}
        answer = shipped_client.post("/v1/sample", json=body).json()
        assert answer["class_name"] == names[label]
        x = torch.from_numpy(np.stack([pixels(image) for image in answer["images"]]))[:, None]
        with torch.inference_mode():
            right += int((classifier(x).argmax(dim=1) == label).sum())
    accuracy = right / (20 * len(names))
    print(f"cvae-fashion samples judged as asked by its classifier: {accuracy:.1%} (recorded {recorded:.1%})")
    assert accuracy >= recorded - 0.05


def test_a_number_is_written_as_make_numbers_measures_it_and_in_an_encoded_digits_hand(
    shipped_client: TestClient, offline_split: Split
) -> None:
    cpu = torch.device("cpu")
    loaded = load_checkpoint(ROOT / "checkpoints" / "cvae-mnist", "cvae", cpu)
    judge = load_checkpoint(ROOT / "checkpoints" / "digit-classifier", "classifier", cpu)
    cvae, classifier = loaded.model, judge.model
    foresee = stored_foresight(loaded, judge)
    assert foresee is not None  # the shipped model writes numbers with its legibility network
    answer = shipped_client.post("/v1/number", json={"text": "31415926", "seed": 5}).json()
    if shipped_client.get("/v1/model").json()["device"] == "cpu":
        cvae.decoder = inference_form(cvae.decoder)
        written = write_number(cvae, foresee, "31415926", 5)
        assert (decode_png(answer["image"]) == written.image).all()
    seven = offline_split.test_images[offline_split.test_labels == 7][3]
    upload = {"file": ("seven.png", on_paper(seven, np.random.default_rng(1)), "image/png")}
    mu = shipped_client.post("/v1/encode", files=upload, data={"digit": "7"}).json()["mu"]
    written = shipped_client.post("/v1/number", json={"text": "7777", "seed": 9, "z": mu}).json()
    image = decode_png(written["image"])
    x = torch.from_numpy(np.stack([framed(image, box) for box in written["boxes"]])).float().div(255)[:, None]
    sevens = torch.full((4,), 7)
    with torch.inference_mode():
        assert (classifier(x).argmax(dim=1) == 7).sum() >= 3
        encodings, _ = cvae.encode(x, sevens)
        others = torch.randn(50, len(mu), generator=torch.Generator().manual_seed(0))
    own = (encodings - torch.tensor(mu)).norm(dim=1).mean()
    strangers = torch.cdist(encodings, others).mean()
    assert own < 0.4 * strangers, (own, strangers)


def test_a_number_the_service_wrote_is_read_back(shipped_client: TestClient) -> None:
    right = digits = 0
    verdicts = []
    for seed, text in enumerate(("2026", "31415926", "90210", "7", "4815162342")):
        png = shipped_client.get("/v1/number.png", params={"text": text, "seed": seed, "height": 84}).content
        answer = shipped_client.post("/v1/read", files={"file": ("number.png", png, "image/png")}).json()
        right += answer["text"] == text
        digits += len(text)
        verdicts += [digit["is_digit"] for digit in answer["digits"]]
        assert len(answer["text"]) == len(text), answer["text"]
        assert answer["is_number"] == all(digit["is_digit"] for digit in answer["digits"])
    assert right >= 4 and sum(verdicts) >= 0.9 * digits


def test_the_reading_benchmark_judges_candidates_as_the_service_does(shipped_client: TestClient) -> None:
    """training/number_reading.py measures model/reading.py with the ood_score the service gives each
    candidate digit: the same text, and the same scores of the digits read."""
    classifier = number_reading.load_classifier(number_reading.DEFAULT_CLASSIFIER)
    ood_score = number_reading.load_ood_score(
        number_reading.ROOT / "checkpoints" / "cvae-mnist", number_reading.DEFAULT_CLASSIFIER
    )
    assert ood_score is not None
    png = shipped_client.get("/v1/number.png", params={"text": "4711", "seed": 5, "height": 56}).content
    answer = shipped_client.post("/v1/read", files={"file": ("number.png", png, "image/png")}).json()
    found = reading.find_digits(png)
    chosen = found.read(torch.softmax(classifier(found.crops), dim=1), ood_score(found.crops))
    assert [found.boxes[i] for i in chosen] == [digit["box"] for digit in answer["digits"]]
    scores = ood_score(found.crops[chosen]).tolist()
    assert scores == pytest.approx([digit["ood_score"] for digit in answer["digits"]], abs=1e-3)


def test_the_api_page_shows_the_answer_the_code_gives(shipped_client: TestClient) -> None:
    """docs/api.md's upload example is the shipped model's answer to the request it shows, to the digits
    shown (tests/api_examples.py makes it)."""
    live = render(upload_answer(shipped_client))
    assert same_as_shown(json.loads(page_example(API_PAGE.read_text())), json.loads(live)), (
        f"docs/api.md's upload example is out of date; `python tests/api_examples.py` prints it:\n{live}"
    )
