"""The files of a synthetic dataset (model/synthetic.py) as bytes, made piece by piece as the images come,
so that neither cvae-generate nor GET /v1/dataset holds more than a chunk: MNIST's IDX pair, one .npz, or a
PNG per image in a folder per class; the same for a set of written numbers (model/number_sets.py): one .npz,
or a PNG per number and labels.tsv; datasheet.json, which says what made them; and the tar that carries the
files and the datasheet as one download.

An encoder yields (file name, bytes) pieces, each file's pieces together and in order. Nothing in them
depends on the time or the machine, so the same images always make the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import struct
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import groupby
from operator import itemgetter
from typing import Any, Literal, get_args

import numpy as np
import torch

from model.checkpoint import Checkpoint, model_name
from model.images import png_bytes
from model.number_sets import NumberChunk, NumberSet
from model.numbers import TILE
from model.synthetic import Chunk, Synthesis

DatasetFormat = Literal["idx", "npz", "png"]
FORMATS: tuple[DatasetFormat, ...] = get_args(DatasetFormat)
# A number's image is as wide as its digits: no IDX, whose images are all of one size.
NumberFormat = Literal["npz", "png"]
NUMBER_FORMATS: tuple[NumberFormat, ...] = get_args(NumberFormat)
# MNIST's own names for its training files: loaders of MNIST read these as they are.
IMAGES_FILE = "train-images-idx3-ubyte"
LABELS_FILE = "train-labels-idx1-ubyte"
NPZ_FILE = "dataset.npz"
DATASHEET_FILE = "datasheet.json"
# A set of numbers as PNGs: images/<index>.png, and one line "<path>\t<text>" a number, no header: the
# ground-truth form that PaddleOCR's and deep-text-recognition-benchmark's recognisers read.
NUMBER_IMAGES = "images"
TEXT_LABELS_FILE = "labels.tsv"
IDX_UBYTE = 0x08  # the data type code of unsigned bytes, the only one MNIST uses
# Every zip member's time: the earliest a zip can record, the same on every run.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
TAR_BLOCK = 512
TAR_RECORD = 20 * TAR_BLOCK  # tar's default blocking factor: archives end on a whole record
ORDER = (
    "by class: class 0's per_class images, then class 1's, ...; within a class, in the order of its latent "
    "stream (seeded from the seed and the label), so a class's first N images are the same for any "
    "per_class >= N"
)
NUMBER_ORDER = (
    "number i is drawn from numpy's generator of SeedSequence((seed, i)): its length (uniform in "
    "min_length..max_length), its digits (each uniform in 0-9, leading zeros included) and its style seed; "
    "so the first K numbers are the same for any numbers >= K"
)
NUMBER_STYLE = (
    "number i is what POST /v1/number writes for its text and style seed (the npz's seeds) at this "
    "temperature, 28 pixels high: one style z, the first latent /v1/sample draws for that seed, and each "
    "digit's small variation (its z's step, scale, slant, baseline, the gap before it) drawn from the seed; "
    "each digit is written at the first of its 4 seeded steps that the model's legibility network foresees "
    "the classifier (the datasheet's) reading as that digit with probability 0.9, else at the step foreseen "
    "likeliest to (a model without one: at the first step)"
)
PIXELS = "uint8, white on black (0 background, 255 ink), as the API's PNGs"
NUMBER_LOADING: dict[str, str] = {
    "npz": f"numpy.load('{NPZ_FILE}', allow_pickle=False): number i is images[i, :, :widths[i]] (black to "
    "the right of it), its text labels[i], its digits' boxes boxes[i, :len(labels[i])] ([x0, y0, x1, y1], "
    "x1 and y1 exclusive; -1 past its digits)",
    "png": f"{TEXT_LABELS_FILE}: one line per number, '<path>\\t<text>', no header, paths relative to this "
    "folder (PaddleOCR's and deep-text-recognition-benchmark's ground-truth form); "
    f"{NUMBER_IMAGES}/<index>.png, 28 pixels high and as wide as the number",
}

Piece = tuple[str, bytes]


def idx_header(shape: tuple[int, ...]) -> bytes:
    """The IDX header of a uint8 array of `shape`: magic number (0, 0x08, ndim), then each dimension, all
    big-endian (LeCun & Cortes' format, which training/idx.py reads)."""
    return struct.pack(">HBB", 0, IDX_UBYTE, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


def idx_sizes(images: int, image_shape: tuple[int, int]) -> dict[str, int]:
    """The size in bytes of each IDX file of a dataset of `images` images."""
    height, width = image_shape
    return {
        IMAGES_FILE: len(idx_header((images, height, width))) + images * height * width,
        LABELS_FILE: len(idx_header((images,))) + images,
    }


def encode(format: str, synthesis: Synthesis, chunks: Iterable[Chunk] | None = None) -> Iterator[Piece]:
    """The dataset's files in `format` (idx, npz or png), from `chunks` (default: the synthesis itself)."""
    chunks = synthesis if chunks is None else chunks
    if format == "idx":
        return _idx_pieces(chunks, synthesis.labels(), synthesis.image_shape)
    if format == "npz":
        labels, class_names = synthesis.labels(), np.array(synthesis.class_names, dtype=str)
        images = (chunk.tiles for chunk in chunks)
        shape = (len(labels), *synthesis.image_shape)
        return _npz_pieces(shape, images, lambda: {"labels": labels, "class_names": class_names})
    if format == "png":
        return _png_pieces(chunks, synthesis.class_names, synthesis.spec.per_class)
    raise ValueError(f"unknown format {format!r} (expected one of {', '.join(FORMATS)})")


def encode_numbers(
    format: str, number_set: NumberSet, chunks: Iterable[NumberChunk] | None = None
) -> Iterator[Piece]:
    """The set of numbers' files in `format` (npz or png), from `chunks` (default: the set itself)."""
    chunks = number_set if chunks is None else chunks
    if format == "npz":
        return _number_npz_pieces(chunks, number_set)
    if format == "png":
        return _number_png_pieces(chunks, number_set.size)
    raise ValueError(f"numbers come as {' or '.join(NUMBER_FORMATS)}, not {format!r}")


def _idx_pieces(chunks: Iterable[Chunk], labels: np.ndarray, image_shape: tuple[int, int]) -> Iterator[Piece]:
    yield IMAGES_FILE, idx_header((len(labels), *image_shape))
    for chunk in chunks:
        yield IMAGES_FILE, np.ascontiguousarray(chunk.tiles).tobytes()
    yield LABELS_FILE, idx_header(labels.shape) + labels.tobytes()


class _Sink(io.RawIOBase):
    """A file zipfile writes into, without seek or tell: it keeps what was written until taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _npy_header(shape: tuple[int, ...]) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return header.getvalue()


def _npy(array: np.ndarray) -> bytes:
    data = io.BytesIO()
    np.lib.format.write_array(data, array, allow_pickle=False)
    return data.getvalue()


def _zip_member(name: str, size: int) -> zipfile.ZipInfo:
    member = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    member.file_size = size  # decides, before any byte is written, whether the member needs zip64
    member.external_attr = 0o644 << 16
    return member


def _npz_pieces(
    shape: tuple[int, ...], images: Iterable[np.ndarray], arrays: Callable[[], dict[str, np.ndarray]]
) -> Iterator[Piece]:
    """One uncompressed .npz that numpy.load reads without pickle: `images`, uint8 of `shape`, from its
    blocks of rows as they come, then the arrays that arrays() gives once they are all written (the labels,
    which a set of numbers learns as it goes). zipfile writes it into a sink without seek, so it puts each
    member's CRC and size after its data (a data descriptor) and the images can be sent as they come."""
    sink = _Sink()
    header = _npy_header(shape)
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        with archive.open(_zip_member("images.npy", len(header) + math.prod(shape)), "w") as member:
            member.write(header)
            for rows in images:
                member.write(np.ascontiguousarray(rows).tobytes())
                yield NPZ_FILE, sink.take()
        for name, array in arrays().items():
            data = _npy(array)
            with archive.open(_zip_member(f"{name}.npy", len(data)), "w") as member:
                member.write(data)
    yield NPZ_FILE, sink.take()


def _number_npz_pieces(chunks: Iterable[NumberChunk], number_set: NumberSet) -> Iterator[Piece]:
    """dataset.npz: images (N, 28, W) uint8, each number at the left of its row, black to the right (W:
    the widest the longest can be), widths (N,) int32, labels (N,) str, boxes (N, max_length, 4) int32 (-1
    past a number's digits) and seeds (N,) int64, each number's style seed."""
    spec = number_set.spec
    texts: list[str] = []
    seeds: list[int] = []
    widths: list[int] = []
    boxes = np.full((spec.count, spec.max_length, 4), -1, dtype=np.int32)

    def rows() -> Iterator[np.ndarray]:
        for chunk in chunks:
            padded = np.zeros((len(chunk), TILE, spec.width), dtype=np.uint8)
            for row, (number, written) in enumerate(zip(chunk.numbers, chunk.written, strict=True)):
                width = written.image.shape[1]
                padded[row, :, :width] = written.image
                boxes[len(texts), : len(number.text)] = written.boxes
                texts.append(number.text)
                seeds.append(number.style_seed)
                widths.append(width)
            yield padded

    def arrays() -> dict[str, np.ndarray]:
        return {
            "labels": np.array(texts, dtype=f"<U{spec.max_length}"),
            "widths": np.array(widths, dtype=np.int32),
            "boxes": boxes,
            "seeds": np.array(seeds, dtype=np.int64),
        }

    return _npz_pieces((spec.count, TILE, spec.width), rows(), arrays)


def safe_name(text: str) -> str:
    """`text` as a file name's part: letters, digits, '.', '_' and '-' kept, every other run of characters
    one '-' ("T-shirt/top" -> "T-shirt-top"); "class" when nothing is left."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-") or "class"


def class_folder(label: int, name: str, num_classes: int) -> str:
    """The PNG folder of a class: its label, zero-padded so that folders sort in label order, and its name
    ("0_0", "7_Sneaker")."""
    return f"{label:0{len(str(num_classes - 1))}d}_{safe_name(name)}"


def _png_name(index: int, count: int) -> str:
    """A PNG's name by its index among `count`, zero-padded to at least five digits, so that names sort in
    order and stay the same for any count up to 100,000."""
    return f"{index:0{max(5, len(str(count - 1)))}d}.png"


def _png_pieces(chunks: Iterable[Chunk], class_names: list[str], per_class: int) -> Iterator[Piece]:
    """<class folder>/<index in its class>.png."""
    folders = [class_folder(label, name, len(class_names)) for label, name in enumerate(class_names)]
    written = [0] * len(class_names)
    for chunk in chunks:
        for tile in chunk.tiles:
            yield f"{folders[chunk.label]}/{_png_name(written[chunk.label], per_class)}", png_bytes(tile)
            written[chunk.label] += 1


def _number_png_pieces(chunks: Iterable[NumberChunk], count: int) -> Iterator[Piece]:
    """images/<index>.png, each number as wide as it is written, then labels.tsv."""
    lines: list[str] = []
    for chunk in chunks:
        for number, written in zip(chunk.numbers, chunk.written, strict=True):
            path = f"{NUMBER_IMAGES}/{_png_name(len(lines), count)}"
            yield path, png_bytes(written.image)
            lines.append(f"{path}\t{number.text}\n")
    yield TEXT_LABELS_FILE, "".join(lines).encode()


def with_datasheet(
    pieces: Iterable[Piece], datasheet: Callable[[dict[str, Any]], dict[str, Any]]
) -> Iterator[Piece]:
    """`pieces`, then datasheet.json: datasheet(files), given each file's size and sha256 once all are
    made."""
    digests: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    for name, data in pieces:
        digests.setdefault(name, hashlib.sha256()).update(data)
        sizes[name] = sizes.get(name, 0) + len(data)
        yield name, data
    files = {name: {"bytes": sizes[name], "sha256": digest.hexdigest()} for name, digest in digests.items()}
    yield DATASHEET_FILE, (json.dumps(datasheet(files), indent=2) + "\n").encode()


def checkpoint_record(checkpoint: Checkpoint) -> dict[str, Any]:
    """What a datasheet says of a checkpoint: its name, the sha256 of its weights, the data it learned."""
    config = checkpoint.config
    return {
        "name": model_name(config, checkpoint.path),
        "weights_sha256": config["weights_sha256"],
        "data": config.get("data", {}).get("name"),
    }


def provenance(
    cvae: Checkpoint, classifier: Checkpoint | None, device: torch.device, block_rows: int
) -> dict[str, Any]:
    """What a datasheet says of what made the images (cvae-generate and GET /v1/dataset alike): the model,
    the classifier that judged them when there is one, and the runtime the bytes depend on."""
    made = {"model": checkpoint_record(cvae), "runtime": {"device": str(device), "block_rows": block_rows}}
    return made if classifier is None else {**made, "classifier": checkpoint_record(classifier)}


def datasheet(
    synthesis: Synthesis,
    *,
    format: str,
    files: dict[str, Any],
    model: dict[str, Any],
    runtime: dict[str, Any],
    origin: dict[str, Any],
    classifier: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What made the dataset and what it holds: the model (provenance), the classifier when
    min_confidence chose the images, the arguments, each class's count and draws, the files and their
    sha256, `runtime` (device and block rows, which the bytes depend on) and `origin` (the command or the
    request that would make it again)."""
    spec = synthesis.spec
    return {
        "description": "synthetic images drawn from a conditional VAE, labelled with the class each was "
        "drawn for",
        "model": model,
        "classifier": classifier if spec.min_confidence is not None else None,
        "seed": spec.seed,
        "temperature": spec.temperature,
        "min_confidence": spec.min_confidence,
        "per_class": spec.per_class,
        "images": synthesis.size,
        "image_size": list(synthesis.image_shape),
        "pixels": PIXELS,
        "order": ORDER,
        "class_names": synthesis.class_names,
        "classes": [
            {"label": label, "name": name, "count": spec.per_class, "draws": draws}
            for label, (name, draws) in enumerate(zip(synthesis.class_names, synthesis.draws, strict=True))
        ],
        "format": format,
        "files": files,
        **runtime,
        **origin,
    }


def number_datasheet(
    number_set: NumberSet,
    *,
    format: str,
    files: dict[str, Any],
    model: dict[str, Any],
    classifier: dict[str, Any],
    runtime: dict[str, Any],
    origin: dict[str, Any],
) -> dict[str, Any]:
    """What made a set of numbers and what it holds, as datasheet() says it of a dataset of each class:
    the model and the classifier whose verdicts chose its digits' steps, the arguments, how each number is
    drawn and written, the files, how to load them, `runtime` and `origin`."""
    spec = number_set.spec
    return {
        "description": "synthetic images of numbers, each written by a conditional VAE in a hand of its own "
        "(model/numbers.py), labelled with the digits written",
        "model": model,
        "classifier": classifier,
        "seed": spec.seed,
        "temperature": spec.temperature,
        "numbers": spec.count,
        "min_length": spec.min_length,
        "max_length": spec.max_length,
        "image_height": TILE,
        "max_width": spec.width,
        "pixels": PIXELS,
        "order": NUMBER_ORDER,
        "style": NUMBER_STYLE,
        "format": format,
        "load": NUMBER_LOADING[format],
        "files": files,
        **runtime,
        **origin,
    }


def tar_stream(pieces: Iterable[Piece], sizes: Mapping[str, int]) -> Iterator[bytes]:
    """A ustar archive of the files in `pieces`, made as they come. A member's header needs its size before
    its data: a file named in `sizes` is streamed, any other is held until it is whole (the datasheet).
    Owner, mode and time are fixed, so the same files make the same archive."""
    written = 0
    for name, group in groupby(pieces, key=itemgetter(0)):
        parts: Iterable[bytes] = (data for _, data in group)
        if name in sizes:
            size = sizes[name]
        else:
            parts = [b"".join(parts)]
            size = len(parts[0])
        header = _tar_header(name, size)
        yield header
        sent = 0
        for data in parts:
            sent += len(data)
            yield data
        if sent != size:
            raise ValueError(f"{name}: {sent} bytes, not the {size} its tar header says")
        padding = b"\0" * (-size % TAR_BLOCK)
        yield padding
        written += len(header) + size + len(padding)
    end = b"\0" * (2 * TAR_BLOCK)
    yield end + b"\0" * (-(written + len(end)) % TAR_RECORD)


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")
