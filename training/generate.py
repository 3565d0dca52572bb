"""`cvae-generate`: a labelled synthetic dataset from a CVAE checkpoint, as MNIST's IDX files, one .npz or
PNGs by class, or a set of written numbers as one .npz or PNGs and labels.tsv, with datasheet.json; the same
images, byte for byte, as GET /v1/dataset gives for the same arguments (docs/dataset.md)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from model.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_classifier_fits,
    class_names,
    load_checkpoint,
    read_config,
)
from model.cvae import CVAE
from model.dataset_files import (
    DatasetFormat,
    NumberFormat,
    Piece,
    datasheet,
    encode,
    encode_numbers,
    number_datasheet,
    provenance,
    with_datasheet,
)
from model.device import resolve_device, use_deterministic_kernels
from model.images import to_uint8
from model.inference import DEFAULT_BLOCK_ROWS, cvae_inference_form, inference_form
from model.legibility import stored_foresight
from model.legible import Judged, judge
from model.number_sets import NumberSet, NumberSetSpec
from model.numbers import TILE, writes_numbers
from model.synthetic import DatasetSpec, Synthesis
from training.output import OutputDirectoryError, check_output_directory

PROG = "cvae-generate"
# --max-draws by default: this many per image asked, and never fewer than the service's CVAE_MAX_DRAWS.
DRAWS_PER_IMAGE = 100
MIN_DRAWS = 4096
# What one PNG costs on disk: a file takes at least a block.
PNG_FILE_BYTES = 4096

Chunked = TypeVar("Chunked")


def paired_classifier(checkpoint: str | Path) -> Path:
    """The classifier checkpoint beside `checkpoint` that reads its classes: the one its OOD calibration was
    made with (cvae-calibrate records its sha256; the service serves the two together), else one trained on
    the same data. Raises CheckpointError when there is none."""
    checkpoint = Path(checkpoint)
    config = read_config(checkpoint)
    calibrated = config.get("ood", {}).get("classifier_sha256")
    data = config.get("data", {}).get("sha256")
    found: list[tuple[int, Path]] = []
    for directory in sorted(path for path in checkpoint.parent.iterdir() if path.is_dir()):
        try:
            candidate = read_config(directory)
        except CheckpointError:
            continue
        if candidate["kind"] != "classifier":
            continue
        if calibrated is not None and candidate["weights_sha256"] == calibrated:
            found.append((0, directory))
        elif data is not None and candidate.get("data", {}).get("sha256") == data:
            found.append((1, directory))
    if not found:
        raise CheckpointError(
            f"{checkpoint}: no classifier beside it was calibrated with it or trained on its data; "
            "name one with --classifier"
        )
    return min(found)[1]


@torch.inference_mode()
def _decode(cvae: CVAE, device: torch.device, labels: Tensor, z: Tensor) -> np.ndarray:
    """The images of (labels, z) as uint8 tiles, as the service's decode_batch makes them."""
    return to_uint8(cvae.images(z.to(device, torch.float32), labels.to(device)))


def _judge(cvae: CVAE, classifier: nn.Module, device: torch.device, labels: Tensor, z: Tensor) -> Judged:
    """The images of (labels, z) and the classifier's reading of them, as the service's judge_batch."""
    return judge(cvae, classifier, z.to(device, torch.float32), labels.to(device))


def _progress(
    chunks: Iterable[Chunked], total: int, size: Callable[[Chunked], int], unit: str
) -> Iterator[Chunked]:
    """`chunks`, their `size`s counted on a progress bar while stderr is a terminal (none in logs and
    pipes)."""
    with tqdm(total=total, unit=unit, desc=PROG, disable=None) as bar:
        for chunk in chunks:
            yield chunk
            bar.update(size(chunk))


def _check_out(out: Path, force: bool, needed_bytes: int) -> None:
    """`out` empty or new (or --force), writable, with room for the dataset; raises OutputDirectoryError."""
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputDirectoryError(
            f"{out} is not empty: choose another --out, or add --force to write into it"
        )
    check_output_directory(out, needed_bytes)


def write_files(pieces: Iterable[Piece], out: Path) -> None:
    """The pieces' files written into a staging folder in `out`, then moved into place (a folder of the same
    name replaced): a run that fails part-way, a class short of --min-confidence, leaves `out` as it was."""
    staging = Path(tempfile.mkdtemp(dir=out, prefix=f".{PROG}-"))
    try:
        for name, group in groupby(pieces, key=itemgetter(0)):
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as file:
                for _, data in group:
                    file.write(data)
        for entry in staging.iterdir():
            target = out / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _open_cvae(
    checkpoint: str | Path, device_name: str, block_rows: int
) -> tuple[Checkpoint, CVAE, torch.device]:
    """The CVAE checkpoint, its network run as the service runs it, and the device."""
    if block_rows < 1:
        raise ValueError(f"--block-rows must be at least 1 (got {block_rows})")
    device = resolve_device(device_name)
    use_deterministic_kernels()
    cvae = load_checkpoint(checkpoint, "cvae", device)
    return cvae, cvae_inference_form(cvae.model, block_rows), device  # type: ignore[arg-type]


def open_synthesis(
    checkpoint: str | Path,
    spec: DatasetSpec,
    device_name: str = "auto",
    block_rows: int = DEFAULT_BLOCK_ROWS,
    classifier_path: str | Path | None = None,
    max_draws: int | None = None,
) -> tuple[Synthesis, dict[str, Any]]:
    """The dataset `spec` asks of `checkpoint`, on the networks run as the service runs them, and what the
    datasheet says of the model, the classifier and the runtime."""
    cvae, network, device = _open_cvae(checkpoint, device_name, block_rows)
    classifier: Checkpoint | None = None
    judge_images = None
    if spec.min_confidence is not None:
        path = classifier_path or paired_classifier(checkpoint)
        classifier = load_checkpoint(path, "classifier", device)
        check_classifier_fits(cvae, classifier)
        judge_images = partial(_judge, network, inference_form(classifier.model, block_rows), device)
    synthesis = Synthesis(
        network,
        spec,
        class_names(cvae.config),
        partial(_decode, network, device),
        judge_images,
        max_draws=max_draws or max(MIN_DRAWS, DRAWS_PER_IMAGE * spec.per_class),
        min_chunk_rows=block_rows,
    )
    return synthesis, provenance(cvae, classifier, device, block_rows)


def write_dataset(
    checkpoint: str | Path,
    spec: DatasetSpec,
    out: Path,
    file_format: DatasetFormat,
    *,
    force: bool = False,
    device_name: str = "auto",
    block_rows: int = DEFAULT_BLOCK_ROWS,
    classifier_path: str | Path | None = None,
    max_draws: int | None = None,
    command: str = PROG,
) -> int:
    """The dataset `spec` asks of `checkpoint` written into `out` as `file_format`, with its datasheet
    (`command` is the origin it names); returns the number of images."""
    synthesis, records = open_synthesis(checkpoint, spec, device_name, block_rows, classifier_path, max_draws)
    height, width = synthesis.image_shape
    per_image = PNG_FILE_BYTES if file_format == "png" else height * width + 1
    _check_out(out, force, synthesis.size * per_image)

    def sheet(files: dict[str, Any]) -> dict[str, Any]:
        return datasheet(synthesis, format=file_format, files=files, **records, origin={"command": command})

    chunks = _progress(synthesis, synthesis.size, lambda chunk: len(chunk.tiles), "image")
    write_files(with_datasheet(encode(file_format, synthesis, chunks), sheet), out)
    return synthesis.size


def open_number_set(
    checkpoint: str | Path,
    spec: NumberSetSpec,
    device_name: str = "auto",
    block_rows: int = DEFAULT_BLOCK_ROWS,
    classifier_path: str | Path | None = None,
) -> tuple[NumberSet, dict[str, Any]]:
    """The numbers `spec` asks of `checkpoint`, on the networks run as the service runs them (its legibility
    network chooses each digit's step, model/numbers.py), and what the datasheet says of the model, the
    classifier and the runtime. A model whose classes are not the digits is a ValueError."""
    cvae, network, device = _open_cvae(checkpoint, device_name, block_rows)
    names = class_names(cvae.config)
    if not writes_numbers(names):
        raise ValueError(
            f"--numbers needs a model whose classes are the digits 0-9; {checkpoint} has {', '.join(names)}"
        )
    classifier = load_checkpoint(classifier_path or paired_classifier(checkpoint), "classifier", device)
    check_classifier_fits(cvae, classifier)
    number_set = NumberSet(
        network, spec, partial(_decode, network, device), stored_foresight(cvae, classifier)
    )
    return number_set, provenance(cvae, classifier, device, block_rows)


def write_numbers(
    checkpoint: str | Path,
    spec: NumberSetSpec,
    out: Path,
    file_format: NumberFormat,
    *,
    force: bool = False,
    device_name: str = "auto",
    block_rows: int = DEFAULT_BLOCK_ROWS,
    classifier_path: str | Path | None = None,
    command: str = PROG,
) -> int:
    """The numbers `spec` asks of `checkpoint` written into `out` as `file_format` (npz, or png with
    labels.tsv), with their datasheet (`command` is the origin it names); returns the number of numbers."""
    number_set, records = open_number_set(checkpoint, spec, device_name, block_rows, classifier_path)
    # A PNG file, or an npz row and, generously, its text, boxes, width and seed.
    per_number = PNG_FILE_BYTES if file_format == "png" else TILE * spec.width + 32 * spec.max_length
    _check_out(out, force, spec.count * per_number)

    def sheet(files: dict[str, Any]) -> dict[str, Any]:
        return number_datasheet(
            number_set, format=file_format, files=files, **records, origin={"command": command}
        )

    chunks = _progress(number_set, spec.count, len, "number")
    write_files(with_datasheet(encode_numbers(file_format, number_set, chunks), sheet), out)
    return spec.count
