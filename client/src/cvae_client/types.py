"""What the client returns: frozen dataclasses read from the service's answers.

Images are read-only numpy uint8 arrays, (N, 28, 28) for a batch and (28, 28) for one, white digit on
black as the service draws them; `pil_images()` (or `to_pil`) turns them into Pillow images. Each answer
read from JSON keeps it in `raw`, so a field that a newer service adds is not out of reach; each of its
fields says how it is read from the key of its name, beside its type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from PIL import Image

from cvae_client.images import decode_base64_png, decode_base64_pngs, decode_png, read_only, to_pil

JSON = Mapping[str, Any]


def _floats(values: Any) -> np.ndarray:
    return read_only(np.asarray(values, dtype=np.float64))


def _as_is(value: Any) -> Any:
    return value


def _optional(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else read(value)


_REQUIRED = object()


def _read(read: Callable[[Any], Any] = _as_is, *, absent: Any = _REQUIRED, repr: bool = True) -> Any:
    """A field that JSONAnswer.from_json reads from the answer's key of the same name, through `read`: its
    type and its reading declared together, once. `absent` stands in for a missing key; without it, a missing
    key makes the answer an unexpected one."""
    return field(repr=repr, metadata={"read": read, "absent": absent})


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
        values: dict[str, Any] = {"raw": body}
        for each in fields(cls):  # type: ignore[arg-type]
            if "read" in each.metadata:
                absent = each.metadata["absent"]
                value = body[each.name] if absent is _REQUIRED else body.get(each.name, absent)
                values[each.name] = each.metadata["read"](value)
        return cls(**values)


@result
class ImageBatch(Result):
    images: np.ndarray = _read(decode_base64_pngs)

    def pil_images(self) -> list[Image.Image]:
        return [to_pil(image) for image in self.images]


@result
class Answer(JSONAnswer):
    """Which model answered, and for which class (`digit` is `label`'s older name)."""

    model: str = _read(str)
    label: int = _read(int)
    digit: int = _read(int)
    class_name: str = _read(str)


@result
class Samples(Answer, ImageBatch):
    """/v1/sample: `images` (N, 28, 28) and the `latents` (N, latent_dim) they were decoded from; pass
    `seed` again for the same images."""

    n: int = _read(int)
    seed: int = _read(int)
    temperature: float = _read(float)
    draws: int = _read(int)
    latents: np.ndarray = _read(_floats)


@result
class PNGAnswer(Result):
    """An answer that is a PNG itself, kept as the service's bytes (to write to a file as they are); what
    else it says comes from its headers."""

    png: bytes = field(repr=False)

    def image(self) -> Image.Image:
        return to_pil(decode_png(self.png))


@result
class SampleGrid(PNGAnswer):
    """/v1/sample.png: one PNG grid (2-pixel black gutters), with the seed and draws from its headers."""

    seed: int
    draws: int


# A digit's ink in pixels, (x0, y0, x1, y1) with x1 and y1 exclusive: the box Pillow's crop() takes.
Box = tuple[int, int, int, int]


def _box(values: Any) -> Box:
    x0, y0, x1, y1 = (int(value) for value in values)  # a ValueError unless four: not the answer expected
    return x0, y0, x1, y1


def _boxes(values: Any) -> tuple[Box, ...]:
    return tuple(_box(each) for each in values)


def boxes_from_header(text: str) -> tuple[Box, ...]:
    """X-Boxes of /v1/number.png, `x0,y0,x1,y1;x0,y0,x1,y1;...`, as the JSON answer's `boxes` are read."""
    return _boxes(box.split(",") for box in text.split(";"))


@result
class Number(JSONAnswer):
    """/v1/number: `image` uint8 (height, width), the whole number white on black, and `boxes`, each
    digit's ink left to right (`pil_image().crop(box)` cuts one out). `z` is the style it is written in:
    the same `z` and `seed` (which also draws each digit's small variation) write it the same again."""

    model: str = _read(str)
    text: str = _read(str)
    seed: int = _read(int)
    temperature: float = _read(float)
    height: int = _read(int)
    image: np.ndarray = _read(decode_base64_png)
    z: np.ndarray = _read(_floats)
    boxes: tuple[Box, ...] = _read(_boxes)

    def pil_image(self) -> Image.Image:
        return to_pil(self.image)


@result
class NumberPNG(PNGAnswer):
    """/v1/number.png: the number as one PNG, with the seed and the digits' boxes from its headers."""

    seed: int
    boxes: tuple[Box, ...]


@result
class Decoded(JSONAnswer, ImageBatch):
    """/v1/decode: one image per latent vector sent."""


@result
class Interpolation(Answer, ImageBatch):
    """/v1/interpolate: `steps` images along the path, both ends included, and their latents."""

    steps: int = _read(int)
    latents: np.ndarray = _read(_floats)


@result
class Decision(Answer):
    """What an upload was read as. `probabilities` come from the model's classifier, which decides;
    `elbo_probabilities` (only when inferred) from the CVAE itself. `is_digit` False: the upload looks
    unlike the training data, so the answer is a guess (None: the model has no calibration). `notes`: what
    preprocessing did that the uploader should know of (printed lines removed, several digit-sized marks)."""

    digit_source: Literal["given", "inferred"] = _read()
    probabilities: np.ndarray = _read(_floats)
    elbo_probabilities: np.ndarray | None = _read(_optional(_floats), absent=None)
    is_digit: bool | None = _read(absent=None)
    ood_score: float | None = _read(_optional(float), absent=None)
    notes: tuple[str, ...] = _read(tuple, absent=())


@result
class Encoding(Decision):
    """/v1/encode: the posterior q(z|x, label) as its mean and log-variance."""

    mu: np.ndarray = _read(_floats)
    logvar: np.ndarray = _read(_floats)


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

    input: np.ndarray = _read(decode_base64_png)
    reconstruction: np.ndarray = _read(decode_base64_png)
    loss: Loss = _read(lambda loss: Loss(float(loss["rec"]), float(loss["kld"]), float(loss["elbo"])))


@result
class Transfer(Decision, ImageBatch):
    """/v1/transfer: the upload's style written as every class of the model, in label order."""

    input: np.ndarray = _read(decode_base64_png)


@result
class ModelInfo(JSONAnswer):
    """/v1/model: the model card. The nested parts (data, ood, classifier, metrics) stay as the JSON
    has them: their fields differ between models and grow with new evaluations."""

    name: str = _read(str)
    class_names: tuple[str, ...] = _read(tuple)
    architecture: str = _read(str)
    latent_dim: int = _read(int)
    num_classes: int = _read(int)
    image_size: int = _read(int)
    device: str = _read(str)
    loss: str = _read(str)
    metrics: JSON = _read(repr=False)
    intended_use: str | None = _read(absent=None, repr=False)
    limits: tuple[str, ...] = _read(tuple, absent=(), repr=False)
    data: JSON | None = _read(absent=None, repr=False)
    ood: JSON | None = _read(absent=None, repr=False)
    classifier: JSON = _read(repr=False)


@result
class ModelList(JSONAnswer):
    """/v1/models: every served model, and the name of the one a request gets when it names none."""

    default: str = _read(str)
    models: tuple[ModelInfo, ...] = _read(lambda models: tuple(ModelInfo.from_json(each) for each in models))


@result
class DatasetDownload(Result):
    """/v1/dataset: `filename` as the service named it, the `seed` it used (pass it again for the same
    bytes); the data written to `path`, or held in `content` when no path was given."""

    filename: str
    seed: int | None
    path: Path | None
    content: bytes | None = field(repr=False)
