"""Each endpoint of API v1 as a Call: the HTTP request to send and how to read its answer.

Client and AsyncClient share these functions (their methods are these, sent), so the two cannot drift
apart: only the sending differs. Arguments left as None are left out of the request, so the service's
defaults and validation decide; its 422 names the field at fault.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypedDict, TypeVar, Unpack

import httpx
import numpy as np

from cvae_client import types
from cvae_client.download import attachment_name
from cvae_client.errors import CVAEError, error_from_response
from cvae_client.images import ImageInput, upload_file

T = TypeVar("T")
Latents = Sequence[Sequence[float]] | Sequence[float] | np.ndarray
DatasetFormat = Literal["npz", "idx"]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reader of its successful answer. With `download`, the body is streamed to the
    path it gives for the answer's headers, instead of being read into memory."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Mapping[str, Any] | None = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes]] | None = None
    download: Callable[[httpx.Response], Path] | None = None

    def request_options(self) -> dict[str, Any]:
        """The keyword arguments of httpx's request() and stream()."""
        options = {"params": self.params, "json": self.json, "data": self.data, "files": self.files}
        return {name: value for name, value in options.items() if value is not None}

    def answer(self, response: httpx.Response) -> T:
        """The answer read, or the service's error as a CVAEError (also for a 200 that is not the answer
        expected: another service at that address, or a proxy's page)."""
        if response.is_error:
            raise error_from_response(response)
        try:
            return self.read(response)
        except (KeyError, TypeError, ValueError, OSError) as error:
            detail = f"unexpected answer to {self.method} {self.path}: {type(error).__name__}: {error}"
            raise CVAEError(response.status_code, detail) from error


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _read_json(parse: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    return lambda response: parse(response.json())


def _vector(z: Latents | None) -> list[Any] | None:
    """Latents (an array, or nested sequences of numbers) as JSON's lists of floats; None left out."""
    return None if z is None else np.asarray(z, dtype=np.float64).tolist()


# Generation ------------------------------------------------------------------------------------------


class SampleOptions(TypedDict, total=False):
    """What sample() and sample_png() take besides the class and the count, each left to the service's
    default when not given."""

    label: int | None
    seed: int | None
    temperature: float | None
    min_confidence: float | None
    model: str | None


def sample(digit: int | None = None, n: int = 1, **options: Unpack[SampleOptions]) -> Call[types.Samples]:
    """New images of a class from the prior (POST /v1/sample): `label` (or `digit`), `seed`, `temperature`,
    `min_confidence`, `model`. The same seed gives the same images; with min_confidence, only images the
    model's classifier reads as the class that surely."""
    body = _given(digit=digit, n=n, **options)
    return Call("POST", "/v1/sample", _read_json(types.Samples.from_json), json=body)


def sample_png(
    digit: int | None = None, n: int = 1, *, nrow: int | None = None, **options: Unpack[SampleOptions]
) -> Call[types.SampleGrid]:
    """The same images as sample() with the same arguments, as one PNG grid (GET /v1/sample.png), `nrow`
    images a row (default: a square grid)."""
    params = _given(digit=digit, n=n, nrow=nrow, **options)

    def read(response: httpx.Response) -> types.SampleGrid:
        headers = response.headers
        return types.SampleGrid(
            png=response.content, seed=int(headers["X-Seed"]), draws=int(headers["X-Draws"])
        )

    return Call("GET", "/v1/sample.png", read, params=params)


class NumberOptions(TypedDict, total=False):
    """What number() and number_png() take besides the text, each left to the service's default when not
    given."""

    seed: int | None
    temperature: float | None
    model: str | None
    height: int | None


def number(
    text: str, *, z: Sequence[float] | np.ndarray | None = None, **options: Unpack[NumberOptions]
) -> Call[types.Number]:
    """`text` (1 to 16 of the digits 0-9, as a string: leading zeros count) written in one hand as one
    image (POST /v1/number): in the style `z` (latent_dim numbers, e.g. encode()'s `mu` of your own digit),
    else in one drawn from `seed` at `temperature`; the seed also draws each digit's small variation, so the
    same arguments give the same image. `height` in pixels (default 28); only a model of the digits 0-9
    writes numbers."""
    body = _given(text=text, z=_vector(z), **options)
    return Call("POST", "/v1/number", _read_json(types.Number.from_json), json=body)


def number_png(text: str, **options: Unpack[NumberOptions]) -> Call[types.NumberPNG]:
    """The same image as number() with the same arguments (no `z`: a style comes only from the seed), as
    the PNG itself (GET /v1/number.png), with the seed and the digits' boxes from its headers."""
    params = _given(text=text, **options)

    def read(response: httpx.Response) -> types.NumberPNG:
        headers = response.headers
        return types.NumberPNG(
            png=response.content,
            seed=int(headers["X-Seed"]),
            boxes=types.boxes_from_header(headers["X-Boxes"]),
        )

    return Call("GET", "/v1/number.png", read, params=params)


def decode(
    z: Latents, digit: int | None = None, *, label: int | None = None, model: str | None = None
) -> Call[types.Decoded]:
    """Images of a class from given latents (POST /v1/decode): (N, latent_dim), or one vector."""
    rows = np.asarray(z, dtype=np.float64)
    rows = rows[None] if rows.ndim == 1 else rows
    body = _given(z=rows.tolist(), digit=digit, label=label, model=model)
    return Call("POST", "/v1/decode", _read_json(types.Decoded.from_json), json=body)


def interpolate(
    digit: int | None = None,
    *,
    seeds: tuple[int, int] | None = None,
    z: Latents | None = None,
    steps: int | None = None,
    temperature: float | None = None,
    label: int | None = None,
    model: str | None = None,
) -> Call[types.Interpolation]:
    """A walk in latent space between two seeds (drawn as sample() draws them) or two latent vectors,
    `steps` images with both ends (POST /v1/interpolate; default 8). Give seeds or z, not both."""
    body = _given(
        seeds=None if seeds is None else list(seeds),
        z=_vector(z),
        steps=steps,
        temperature=temperature,
        digit=digit,
        label=label,
        model=model,
    )
    return Call("POST", "/v1/interpolate", _read_json(types.Interpolation.from_json), json=body)


# Uploads ---------------------------------------------------------------------------------------------


def _upload(image: ImageInput, digit: int | None, label: int | None, model: str | None) -> dict[str, Any]:
    form = {name: str(value) for name, value in _given(digit=digit, label=label, model=model).items()}
    return {"data": form, "files": {"file": upload_file(image)}}


def reconstruct(
    image: ImageInput, digit: int | None = None, *, label: int | None = None, model: str | None = None
) -> Call[types.Reconstruction]:
    """An image (path, bytes, PIL image or array; either polarity, any size), preprocessed like MNIST,
    encoded and decoded again (POST /v1/reconstruct). Without digit or label, the classifier infers it."""
    upload = _upload(image, digit, label, model)
    return Call("POST", "/v1/reconstruct", _read_json(types.Reconstruction.from_json), **upload)


def encode(
    image: ImageInput, digit: int | None = None, *, label: int | None = None, model: str | None = None
) -> Call[types.Encoding]:
    """q(z|x, label) of an image (POST /v1/encode); the label inferred when not given."""
    upload = _upload(image, digit, label, model)
    return Call("POST", "/v1/encode", _read_json(types.Encoding.from_json), **upload)


def transfer(
    image: ImageInput, digit: int | None = None, *, label: int | None = None, model: str | None = None
) -> Call[types.Transfer]:
    """The image's style (its posterior mean) written as every class of the model (POST /v1/transfer)."""
    upload = _upload(image, digit, label, model)
    return Call("POST", "/v1/transfer", _read_json(types.Transfer.from_json), **upload)


# The models ------------------------------------------------------------------------------------------


def model(name: str | None = None) -> Call[types.ModelInfo]:
    """A served model's card (GET /v1/model): by default the default model's."""
    return Call("GET", "/v1/model", _read_json(types.ModelInfo.from_json), params=_given(model=name))


def models() -> Call[types.ModelList]:
    """Every served model, and which is the default (GET /v1/models)."""
    return Call("GET", "/v1/models", _read_json(types.ModelList.from_json))


# Datasets --------------------------------------------------------------------------------------------


def dataset(
    per_class: int,
    format: DatasetFormat = "npz",
    *,
    seed: int | None = None,
    temperature: float | None = None,
    min_confidence: float | None = None,
    model: str | None = None,
    to: str | os.PathLike[str] | None = None,
) -> Call[types.DatasetDownload]:
    """A labelled synthetic dataset, `per_class` images of each class (GET /v1/dataset): the same bytes
    as `cvae-generate` writes for these arguments. Streamed to `to` (a file, or a directory for the
    service's file name; made when it ends with a slash) without being held in memory; without `to`,
    returned as `content`."""
    params = _given(
        per_class=per_class,
        format=format,
        seed=seed,
        temperature=temperature,
        min_confidence=min_confidence,
        model=model,
    )

    def name(response: httpx.Response) -> str:
        return attachment_name(response) or f"dataset.{format}"

    def download(response: httpx.Response, path: Path | None, content: bytes | None) -> types.DatasetDownload:
        used = response.headers.get("X-Seed")
        return types.DatasetDownload(
            filename=name(response), seed=None if used is None else int(used), path=path, content=content
        )

    if to is None:
        return Call("GET", "/v1/dataset", lambda r: download(r, None, r.content), params=params)
    target = Path(to)
    into_directory = target.is_dir() or os.fspath(to).endswith(("/", os.sep))

    def where(response: httpx.Response) -> Path:
        if not into_directory:
            return target
        target.mkdir(parents=True, exist_ok=True)
        return target / name(response)

    return Call("GET", "/v1/dataset", lambda r: download(r, where(r), None), params=params, download=where)
