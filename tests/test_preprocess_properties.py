"""Properties of upload preprocessing over random images: any size, mode, polarity and format gives either a
28x28 image in [0, 1] or one of the project's own upload errors, never anything else."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from robustness import Recorder

from model.preprocess import UploadError, preprocess_upload

MODES = ("L", "RGB", "RGBA", "LA", "P", "1", "I;16", "I", "F", "CMYK")
# Each format with the modes Pillow writes it from (some it converts on the way, as a user's tool would).
FORMATS = {
    "PNG": ("L", "RGB", "RGBA", "LA", "P", "1", "I;16"),
    "JPEG": ("L", "RGB", "1", "CMYK"),
    "GIF": ("L", "RGB", "RGBA", "LA", "P", "1", "I;16", "I", "F"),
    "WEBP": MODES,
    "BMP": ("L", "RGB", "RGBA", "P", "1"),
    "TIFF": MODES,
}


@st.composite
def uploads(draw: st.DrawFn) -> bytes:
    """An image file: random size, format and mode, noise or a bar of ink on paper of either polarity."""
    width, height = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    image_format = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[image_format]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        pixels = rng.integers(0, 256, (height, width), dtype=np.uint8)
    else:
        paper, ink = (255, 0) if draw(st.booleans()) else (0, 255)
        pixels = np.full((height, width), paper, dtype=np.uint8)
        top, left = rng.integers(0, height), rng.integers(0, width)
        pixels[top : top + max(1, height // 4), left : left + max(1, width // 3)] = ink
    image = Image.fromarray(pixels, "L").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def _outcome(data: bytes) -> str:
    """What preprocessing made of `data`: "28x28" (checked here) or the name of the upload error it raised."""
    try:
        x = preprocess_upload(data)
    except UploadError as error:
        assert str(error)  # a message for the uploader
        return type(error).__name__
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    return "28x28"


def _record(robustness: Recorder, sent: str, outcomes: Counter[str]) -> None:
    robustness.record(
        sent=sent,
        count=sum(outcomes.values()),
        came_back=", ".join(f"{n}x {outcome}" for outcome, n in outcomes.most_common())
        + " (28x28: a float32 28x28 image in [0, 1]; the rest the project's own upload errors)",
    )


def test_any_image_gives_a_digit_image_or_a_clear_upload_error(robustness: Recorder) -> None:
    outcomes: Counter[str] = Counter()

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=uploads())
    def check(data: bytes) -> None:
        outcomes[_outcome(data)] += 1

    check()
    _record(robustness, "hypothesis: images of random size, mode, polarity and format (6 formats)", outcomes)


def test_any_bytes_give_a_digit_image_or_a_clear_upload_error(robustness: Recorder) -> None:
    outcomes: Counter[str] = Counter()

    @settings(max_examples=150, deadline=None)
    @given(data=st.binary(max_size=2048))
    def check(data: bytes) -> None:
        outcomes[_outcome(data)] += 1

    check()
    _record(robustness, "hypothesis: random bytes (up to 2 kB) as an upload", outcomes)
