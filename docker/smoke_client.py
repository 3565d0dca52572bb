"""The requests of the Docker smoke test (docker/smoke-test.sh), against a running container.

Standard library only, so it runs with any Python 3.11 on the host. Run from the repository root:
`python docker/smoke_client.py http://127.0.0.1:8000`; exits non-zero with one line saying what failed.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

SHIPPED_CONFIG = Path("checkpoints/cvae-mnist/config.json")
DIGIT = 7
SAMPLES = 4


class SmokeError(Exception):
    pass


def fetch(url: str, body: bytes | None = None, content_type: str | None = None) -> bytes:
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        raise SmokeError(f"{url}: HTTP {e.code}: {e.read()[:200]!r}") from e


def request(url: str, body: bytes | None = None, content_type: str | None = None) -> dict:
    return json.loads(fetch(url, body, content_type))


def post_json(url: str, payload: dict) -> dict:
    return request(url, json.dumps(payload).encode(), "application/json")


def post_file(url: str, name: str, content: bytes) -> dict:
    """One multipart/form-data field `file`, as a browser's upload sends it."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return request(url, body, f"multipart/form-data; boundary={boundary}")


def png_28x28_gray(encoded: str, what: str) -> bytes:
    """The PNG decoded from base64, after checking its header says 28x28, 8-bit grayscale."""
    png = base64.b64decode(encoded)
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise SmokeError(f"{what} is not a PNG")
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    if (width, height, depth, colour) != (28, 28, 8, 0):
        raise SmokeError(f"{what} is {width}x{height}, depth {depth}, colour type {colour}")
    return png


def wait_ready(base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5):
                return
        except (urllib.error.URLError, OSError) as e:
            if time.monotonic() > deadline:
                raise SmokeError(f"{base}/readyz not ready after {seconds:.0f} s: {e}") from e
            time.sleep(1)


def smoke(base: str) -> None:
    wait_ready(base)

    model = request(f"{base}/v1/model")
    shipped = json.loads(SHIPPED_CONFIG.read_text())
    if model["name"] != "cvae-mnist" or model["metrics"] != shipped["metrics"]:
        raise SmokeError(f"/v1/model does not describe the shipped checkpoint {SHIPPED_CONFIG.parent}")

    names = [listed["name"] for listed in request(f"{base}/v1/models")["models"]]
    if names != ["cvae-mnist", "cvae-fashion"]:
        raise SmokeError(f"/v1/models lists {names}, not the two shipped models")
    sneakers = post_json(f"{base}/v1/sample", {"model": "cvae-fashion", "label": 7, "n": 2, "seed": 0})
    if sneakers["class_name"] != "Sneaker" or len(sneakers["images"]) != 2:
        raise SmokeError(f"/v1/sample of cvae-fashion answered {sneakers['class_name']!r}")

    sample = post_json(f"{base}/v1/sample", {"digit": DIGIT, "n": SAMPLES, "seed": 0})
    if sample["seed"] != 0 or len(sample["images"]) != SAMPLES or len(sample["latents"]) != SAMPLES:
        raise SmokeError(f"/v1/sample answered {sample['seed']=}, {len(sample['images'])} images")
    images = [png_28x28_gray(image, f"sample {i}") for i, image in enumerate(sample["images"])]

    # The service's own samples, uploaded without a digit: the shipped classifier must know most of them
    # (the model's samples are judged right 99.2% of the time, README "Results"), which an untrained model
    # would not manage.
    recognised = 0
    for i, image in enumerate(images):
        answer = post_file(f"{base}/v1/reconstruct", f"sample-{i}.png", image)
        png_28x28_gray(answer["reconstruction"], f"reconstruction {i}")
        if answer["digit_source"] != "inferred" or len(answer["probabilities"]) != 10:
            raise SmokeError(f"/v1/reconstruct answered {answer['digit_source']=}")
        recognised += answer["digit"] == DIGIT
    if recognised < SAMPLES - 1:
        raise SmokeError(f"only {recognised} of {SAMPLES} sampled {DIGIT}s were recognised as {DIGIT}")
    # The page's files ship in the image: the page and the script it loads.
    page = fetch(f"{base}/").decode()
    if '<script type="module" src="/static/app.js">' not in page or b"/v1/sample" not in fetch(
        f"{base}/static/app.js"
    ):
        raise SmokeError("/ does not serve the page with its scripts")
    print(
        f"smoke: /, /v1/model, /v1/models, /v1/sample (both models), /v1/reconstruct answer; "
        f"{recognised}/{SAMPLES} {DIGIT}s recognised"
    )


def main() -> int:
    try:
        smoke(sys.argv[1].rstrip("/"))
    except (SmokeError, KeyError, ValueError) as e:
        print(f"smoke: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
