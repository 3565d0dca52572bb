"""The serving benchmark's requests, built as bytes: JSON bodies, multipart uploads and the images uploaded.

The uploads are made here rather than read from files: a phone-photo-sized JPEG of a handwritten 7 (about
1 MB, the upload a user of the page makes), and a small PNG scan for the mixed load.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.wrk import Request


def get_request(path: str) -> Request:
    return Request("GET", path, label=f"GET {path}")


def json_request(path: str, body: dict[str, Any]) -> Request:
    text = json.dumps(body, separators=(",", ":"))
    return Request("POST", path, text.encode(), "application/json", f"POST {path} {text}")


def sample_request(n: int, digit: int = 7, seed: int = 1) -> Request:
    return json_request("/v1/sample", {"digit": digit, "n": n, "seed": seed})


def upload_request(path: str, data: bytes, filename: str, file_type: str, digit: int | None) -> Request:
    """multipart/form-data: the file as `file` and, when given, the `digit` field, as a browser sends them."""
    boundary = "cvae-bench-c2f1e0d9b8a7"
    parts = []
    if digit is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="digit"\r\n\r\n{digit}\r\n'.encode()
        )
    header = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
    parts += [f"{header}Content-Type: {file_type}\r\n\r\n".encode(), data, f"\r\n--{boundary}--\r\n".encode()]
    given = "" if digit is None else f", digit={digit}"
    label = f"POST {path} multipart {filename} ({len(data):,} bytes){given}"
    return Request("POST", path, b"".join(parts), f"multipart/form-data; boundary={boundary}", label)


def _draw_seven(image: Image.Image, box: tuple[int, int, int, int], width: int, ink: Any) -> None:
    left, top, right, bottom = box
    ImageDraw.Draw(image).line(
        [(left, top), (right, top), (left + (right - left) // 3, bottom)],
        fill=ink,
        width=width,
        joint="curve",
    )


def photo_jpeg(target_bytes: int = 1_000_000, size: tuple[int, int] = (2000, 1500)) -> bytes:
    """A phone photo of a handwritten 7: dark ink on unevenly lit, grainy paper, about `target_bytes` of JPEG.

    The grain is what makes a real photo large; the JPEG quality is searched for a size near the target.
    """
    width, height = size
    rng = np.random.default_rng(0)
    light = 200 + 35 * np.linspace(0, 1, width)[None, :, None] - 15 * np.linspace(0, 1, height)[:, None, None]
    paper = light + np.array([4.0, 0.0, -8.0]) + rng.normal(0, 9, (height, width, 3))
    image = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
    _draw_seven(
        image, (width * 7 // 20, height // 5, width * 13 // 20, height * 4 // 5), width // 28, (35, 35, 60)
    )

    def encoded(quality: int) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return buffer.getvalue()

    low, high = 5, 95
    while low < high:  # the lowest quality whose file reaches the target
        middle = (low + high) // 2
        low, high = (middle + 1, high) if len(encoded(middle)) < target_bytes else (low, middle)
    return min((encoded(q) for q in {max(low - 1, 5), low}), key=lambda data: abs(len(data) - target_bytes))


def digit_png() -> bytes:
    """A small scan of a handwritten 7 (dark on white): the everyday upload of the mixed load."""
    image = Image.new("L", (140, 140), 255)
    _draw_seven(image, (35, 25, 105, 115), 11, 20)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def throughput_routes(photo: bytes) -> dict[str, tuple[Request, int]]:
    """The routes measured at each concurrency, with the images each request makes (0: none counted)."""
    return {
        "healthz": (get_request("/healthz"), 0),
        "sample_n1": (sample_request(1), 1),
        "sample_n4": (sample_request(4), 4),
        "number_4": (json_request("/v1/number", {"text": "2026", "seed": 1}), 4),
        "sample_n64": (sample_request(64), 64),
        "sample_png_n64": (
            get_request("/v1/sample.png?digit=7&n=64&seed=1"),
            64,
        ),
        "reconstruct_photo_given": (
            upload_request("/v1/reconstruct", photo, "photo.jpg", "image/jpeg", 7),
            1,
        ),
        "reconstruct_photo_inferred": (
            upload_request("/v1/reconstruct", photo, "photo.jpg", "image/jpeg", None),
            1,
        ),
    }


def mixed_requests(latent_dim: int) -> list[tuple[Request, int]]:
    """Every route that runs a model, and two mistakes, with the status each must get."""
    png = digit_png()
    text = b"shopping list: milk, eggs, flour\n"
    return [
        (sample_request(1), 200),
        (sample_request(16, digit=3, seed=2), 200),
        (get_request("/v1/sample.png?digit=3&n=16&seed=2"), 200),
        (upload_request("/v1/reconstruct", png, "seven.png", "image/png", 7), 200),
        (upload_request("/v1/reconstruct", png, "seven.png", "image/png", None), 200),
        (sample_request(1, digit=4, seed=3), 200),
        (upload_request("/v1/encode", png, "seven.png", "image/png", 7), 200),
        (upload_request("/v1/transfer", png, "seven.png", "image/png", None), 200),
        (json_request("/v1/decode", {"digit": 5, "z": [[0.1] * latent_dim]}), 200),
        (json_request("/v1/interpolate", {"digit": 2, "seeds": [1, 2], "steps": 8}), 200),
        (json_request("/v1/number", {"text": "90210", "seed": 4}), 200),
        (json_request("/v1/sample", {"digit": 11, "n": 1}), 422),
        (upload_request("/v1/reconstruct", text, "notes.txt", "text/plain", None), 415),
    ]
