"""A typed Python client of the cvae-digits service: it speaks only HTTP (API v1), and imports nothing of
`app/`, `model/` or `training/`.

    from cvae_client import Client

    with Client("http://127.0.0.1:8000") as cvae:
        sevens = cvae.sample(7, n=16, seed=42)        # sevens.images: uint8 (16, 28, 28)
        answer = cvae.reconstruct("my-digit.jpg")     # answer.digit, answer.probabilities, answer.is_digit
        mine = cvae.number("2026", z=answer.mu)       # the number in the upload's hand; mine.boxes
"""

from cvae_client.errors import CVAEError
from cvae_client.images import ImageInput, to_pil
from cvae_client.transport import DEFAULT_URL, AsyncClient, Client
from cvae_client.types import (
    Box,
    DatasetDownload,
    Decision,
    Decoded,
    Encoding,
    Interpolation,
    Loss,
    ModelInfo,
    ModelList,
    Number,
    NumberPNG,
    Reconstruction,
    SampleGrid,
    Samples,
    Transfer,
)

__all__ = [
    "DEFAULT_URL",
    "AsyncClient",
    "Box",
    "CVAEError",
    "Client",
    "DatasetDownload",
    "Decision",
    "Decoded",
    "Encoding",
    "ImageInput",
    "Interpolation",
    "Loss",
    "ModelInfo",
    "ModelList",
    "Number",
    "NumberPNG",
    "Reconstruction",
    "SampleGrid",
    "Samples",
    "Transfer",
    "to_pil",
]
