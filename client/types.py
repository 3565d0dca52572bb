"""What the client returns: frozen dataclasses read from the service's answers.

Images are read-only numpy uint8 arrays, (N, 28, 28) for a batch and (28, 28) for one, white digit on
black as the service draws them; `pil_images()` (or `to_pil`) turns them into Pillow images. Each answer
read from JSON keeps it in `raw`, so a field that a newer service adds is not out of reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from PIL import Image

from client.images import decode_base64_png, decode_base64_pngs, decode_png, read_only, to_pil

JSON = Mapping[str, Any]


def _floats(values: Any) -> np.ndarray:
    return read_only(np.asarray(values, dtype=np.float64))


# eq=False: numpy arrays have no truth value, so a generated __eq__ would raise instead of comparing.
# repr=False: Result's own, which shows an array as its shape rather than its thousands of numbers.
result = dataclass(frozen=True, eq=False, kw_only=True, repr=False)


class Result:
    """The base of every result: a short repr."""

    def __repr__(self) -> str:
        shown = [each.name for each in fields(self) if each.repr]  # type: ignore[arg-type]
        return (
            f"{type(self).__name__}({', '.join(f'{name}={_short(getattr(self, name))}' for name in shown)})"
        )


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"<{value.dtype} array {value.shape}>"
    return repr(value)


@result
class JSONAnswer(Result):
    raw: JSON = field(repr=False)

    @classmethod
    def from_json(cls, body: JSON) -> Self:
        return cls(**cls._fields(body))

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        """The constructor's arguments; each subclass adds its own to its parent's."""
        return {"raw": body}


@result
class ImageBatch(Result):
    images: np.ndarray

    def pil_images(self) -> list[Image.Image]:
        return [to_pil(image) for image in self.images]


@result
class Answer(JSONAnswer):
    """Which model answered, and for which class (`digit` is `label`'s older name)."""

    model: str
    label: int
    digit: int
    class_name: str

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        return {
            **super()._fields(body),
            "model": str(body["model"]),
            "label": int(body["label"]),
            "digit": int(body["digit"]),
            "class_name": str(body["class_name"]),
        }


@result
class Samples(Answer, ImageBatch):
    """/v1/sample: `images` (N, 28, 28) and the `latents` (N, latent_dim) they were decoded from; pass
    `seed` again for the same images."""

    n: int
    seed: int
    temperature: float
    draws: int
    latents: np.ndarray

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        return {
            **super()._fields(body),
            "n": int(body["n"]),
            "seed": int(body["seed"]),
            "temperature": float(body["temperature"]),
            "draws": int(body["draws"]),
            "images": decode_base64_pngs(body["images"]),
            "latents": _floats(body["latents"]),
        }


@result
class SampleGrid(Result):
    """/v1/sample.png: one PNG grid (2-pixel black gutters), with the seed and draws from its headers."""

    png: bytes = field(repr=False)
    seed: int
    draws: int

    def image(self) -> Image.Image:
        return to_pil(decode_png(self.png))


@result
class Decoded(JSONAnswer, ImageBatch):
    """/v1/decode: one image per latent vector sent."""

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        return {**super()._fields(body), "images": decode_base64_pngs(body["images"])}


@result
class Interpolation(Answer, ImageBatch):
    """/v1/interpolate: `steps` images along the path, both ends included, and their latents."""

    steps: int
    latents: np.ndarray

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        return {
            **super()._fields(body),
            "steps": int(body["steps"]),
            "images": decode_base64_pngs(body["images"]),
            "latents": _floats(body["latents"]),
        }


@result
class Decision(Answer):
    """What an upload was read as. `probabilities` come from the model's classifier, which decides;
    `elbo_probabilities` (only when inferred) from the CVAE itself. `is_digit` False: the upload looks
    unlike the training data, so the answer is a guess (None: the model has no calibration)."""

    digit_source: Literal["given", "inferred"]
    probabilities: np.ndarray
    elbo_probabilities: np.ndarray | None
    is_digit: bool | None
    ood_score: float | None

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        elbo = body.get("elbo_probabilities")
        score = body.get("ood_score")
        return {
            **super()._fields(body),
            "digit_source": body["digit_source"],
            "probabilities": _floats(body["probabilities"]),
            "elbo_probabilities": None if elbo is None else _floats(elbo),
            "is_digit": body.get("is_digit"),
            "ood_score": None if score is None else float(score),
        }


@result
class Encoding(Decision):
    """/v1/encode: the posterior q(z|x, label) as its mean and log-variance."""

    mu: np.ndarray
    logvar: np.ndarray

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        return {**super()._fields(body), "mu": _floats(body["mu"]), "logvar": _floats(body["logvar"])}


@dataclass(frozen=True)
class Loss:
    """The loss terms at the posterior mean, in nats: elbo = -(rec + kld)."""

    rec: float
    kld: float
    elbo: float


@result
class Reconstruction(Encoding):
    """/v1/reconstruct: `input` is the upload as the model saw it (preprocessed, 28x28), `reconstruction`
    its decoding from the posterior mean."""

    input: np.ndarray
    reconstruction: np.ndarray
    loss: Loss

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        loss = body["loss"]
        return {
            **super()._fields(body),
            "input": decode_base64_png(body["input"]),
            "reconstruction": decode_base64_png(body["reconstruction"]),
            "loss": Loss(float(loss["rec"]), float(loss["kld"]), float(loss["elbo"])),
        }


@result
class Transfer(Decision, ImageBatch):
    """/v1/transfer: the upload's style written as every class of the model, in label order."""

    input: np.ndarray

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        return {
            **super()._fields(body),
            "input": decode_base64_png(body["input"]),
            "images": decode_base64_pngs(body["images"]),
        }


@result
class ModelInfo(JSONAnswer):
    """/v1/model: the model card. The nested parts (data, ood, classifier, metrics) stay as the JSON
    has them: their fields differ between models and grow with new evaluations."""

    name: str
    class_names: tuple[str, ...]
    architecture: str
    latent_dim: int
    num_classes: int
    image_size: int
    device: str
    loss: str
    metrics: JSON = field(repr=False)
    intended_use: str | None = field(repr=False)
    limits: tuple[str, ...] = field(repr=False)
    data: JSON | None = field(repr=False)
    ood: JSON | None = field(repr=False)
    classifier: JSON = field(repr=False)

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        return {
            **super()._fields(body),
            "name": str(body["name"]),
            "class_names": tuple(body["class_names"]),
            "architecture": str(body["architecture"]),
            "latent_dim": int(body["latent_dim"]),
            "num_classes": int(body["num_classes"]),
            "image_size": int(body["image_size"]),
            "device": str(body["device"]),
            "loss": str(body["loss"]),
            "metrics": body["metrics"],
            "intended_use": body.get("intended_use"),
            "limits": tuple(body.get("limits", ())),
            "data": body.get("data"),
            "ood": body.get("ood"),
            "classifier": body["classifier"],
        }


@result
class ModelList(JSONAnswer):
    """/v1/models: every served model, and the name of the one a request gets when it names none."""

    default: str
    models: tuple[ModelInfo, ...]

    @classmethod
    def _fields(cls, body: JSON) -> dict[str, Any]:
        return {
            **super()._fields(body),
            "default": str(body["default"]),
            "models": tuple(ModelInfo.from_json(model) for model in body["models"]),
        }


@result
class DatasetDownload(Result):
    """/v1/dataset: `filename` as the service named it, the `seed` it used (pass it again for the same
    bytes); the data written to `path`, or held in `content` when no path was given."""

    filename: str
    seed: int | None
    path: Path | None
    content: bytes | None = field(repr=False)
