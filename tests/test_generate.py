"""cvae-generate and the synthesis it shares with GET /v1/dataset (model/synthetic.py and
model/dataset_files.py): every format reads back with the project's IDX reader, numpy and Pillow, and holds
the same images; a seed gives the same bytes; a bad argument or a used --out is one line and status 2."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.checkpoint import CheckpointError, load_checkpoint
from model.cvae import CVAE
from model.dataset_files import (
    DATASHEET_FILE,
    IMAGES_FILE,
    LABELS_FILE,
    NPZ_FILE,
    class_folder,
    encode,
    safe_name,
    tar_stream,
)
from model.images import to_uint8
from model.inference import cvae_inference_form
from model.legible import Judged, TooFewLegibleError, judge
from model.synthetic import DatasetSpec, Synthesis, class_seed
from training.commands.generate import main
from training.generate import paired_classifier
from training.idx import read_idx

ROOT = Path(__file__).resolve().parents[1]
PER_CLASS = 3


def run(checkpoints: tuple[Path, Path], out: Path, *options: str) -> Path:
    """cvae-generate on the tiny checkpoints, PER_CLASS images of each class unless the options say more."""
    cvae, classifier = checkpoints
    models = ["--checkpoint", str(cvae), "--classifier", str(classifier)]
    main([*models, "--per-class", str(PER_CLASS), "--out", str(out), *options])
    return out


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one line a refused run prints on stderr; the run must end with status 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("cvae-generate: error: ")
    return lines[0]


def idx_dataset(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    return read_idx(directory / IMAGES_FILE, 3), read_idx(directory / LABELS_FILE, 1)


def test_idx_reads_back_with_the_project_reader_in_class_order(tiny_checkpoints, tmp_path: Path) -> None:
    out = run(tiny_checkpoints, tmp_path / "idx")
    images, labels = idx_dataset(out)
    assert images.shape == (10 * PER_CLASS, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [label for label in range(10) for _ in range(PER_CLASS)]
    assert len({image.tobytes() for image in images}) == len(images)  # each drawn, none copied
    assert sorted(p.name for p in out.iterdir()) == [DATASHEET_FILE, IMAGES_FILE, LABELS_FILE]


def test_every_format_holds_the_same_images(tiny_checkpoints, tmp_path: Path) -> None:
    images, labels = idx_dataset(run(tiny_checkpoints, tmp_path / "idx", "--seed", "5"))
    with np.load(run(tiny_checkpoints, tmp_path / "npz", "--seed", "5", "--format", "npz") / NPZ_FILE) as npz:
        assert sorted(npz.files) == ["class_names", "images", "labels"]
        assert np.array_equal(npz["images"], images) and np.array_equal(npz["labels"], labels)
        assert npz["labels"].dtype == np.uint8 and npz["class_names"].tolist() == [str(k) for k in range(10)]
    png = run(tiny_checkpoints, tmp_path / "png", "--seed", "5", "--format", "png")
    folders = sorted(p.name for p in png.iterdir() if p.is_dir())
    assert folders == [f"{k}_{k}" for k in range(10)]
    for label, folder in enumerate(folders):
        files = sorted((png / folder).iterdir())
        assert [f.name for f in files] == [f"{i:05d}.png" for i in range(PER_CLASS)]
        for i, file in enumerate(files):
            with Image.open(file) as image:
                assert image.mode == "L"
                assert np.array_equal(np.asarray(image), images[label * PER_CLASS + i])


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others(tiny_checkpoints, tmp_path: Path) -> None:
    first, again, other = (
        run(tiny_checkpoints, tmp_path / name, "--seed", str(seed))
        for name, seed in (("first", 7), ("again", 7), ("other", 8))
    )
    for name in (IMAGES_FILE, LABELS_FILE):
        assert (first / name).read_bytes() == (again / name).read_bytes()
    assert (first / IMAGES_FILE).read_bytes() != (other / IMAGES_FILE).read_bytes()
    sheets = [json.loads((directory / DATASHEET_FILE).read_text()) for directory in (first, again)]
    assert sheets[0]["files"] == sheets[1]["files"]


def test_the_datasheet_says_what_made_the_files(tiny_checkpoints, tmp_path: Path) -> None:
    out = run(tiny_checkpoints, tmp_path / "out", "--seed", "11", "--temperature", "0.5")
    sheet = json.loads((out / DATASHEET_FILE).read_text())
    config = json.loads((tiny_checkpoints[0] / "config.json").read_text())
    assert sheet["model"] == {"name": "tiny-cvae", "weights_sha256": config["weights_sha256"], "data": None}
    assert (sheet["seed"], sheet["temperature"], sheet["min_confidence"]) == (11, 0.5, None)
    assert sheet["classifier"] is None and sheet["format"] == "idx" and sheet["images"] == 10 * PER_CLASS
    assert sheet["class_names"] == [str(k) for k in range(10)]
    assert [(c["label"], c["count"], c["draws"]) for c in sheet["classes"]] == [(k, 3, 3) for k in range(10)]
    assert sheet["block_rows"] == 8 and sheet["device"] in ("cpu", "cuda")
    assert sheet["command"].startswith("cvae-generate --checkpoint ") and sheet["command"].endswith("0.5")
    assert sorted(sheet["files"]) == [IMAGES_FILE, LABELS_FILE]
    for name, recorded in sheet["files"].items():
        data = (out / name).read_bytes()
        assert recorded == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_min_confidence_keeps_what_the_classifier_reads_as_the_class(tmp_path: Path) -> None:
    """On the shipped digits model and its classifier (found beside it): every image kept is read as its
    class at 0.99, and some of the drawn were not."""
    out = tmp_path / "legible"
    checkpoint = ROOT / "checkpoints/cvae-mnist"
    main(["--checkpoint", str(checkpoint), "--per-class", "4", "--min-confidence", "0.99", "--out", str(out)])
    main(["--checkpoint", str(checkpoint), "--per-class", "4", "--out", str(tmp_path / "all")])
    images, labels = idx_dataset(out)
    sheet = json.loads((out / DATASHEET_FILE).read_text())
    assert sheet["classifier"]["name"] == "digit-classifier" and sheet["min_confidence"] == 0.99
    assert all(c["draws"] >= 4 for c in sheet["classes"]) and sum(c["draws"] for c in sheet["classes"]) > 40
    classifier = load_checkpoint(ROOT / "checkpoints/digit-classifier", "classifier").model
    x = torch.from_numpy(images).float().div(255)[:, None]
    with torch.inference_mode():
        confidence = torch.softmax(classifier(x), 1).gather(1, torch.from_numpy(labels).long()[:, None])
    assert (confidence >= 0.99 - 1e-4).all()
    assert not np.array_equal(images, idx_dataset(tmp_path / "all")[0])


def test_a_used_out_is_refused_unless_forced(tiny_checkpoints, tmp_path: Path, capsys) -> None:
    out = tmp_path / "used"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    cvae, _ = tiny_checkpoints
    line = error_line(capsys, ["--checkpoint", str(cvae), "--per-class", "2", "--out", str(out)])
    assert "not empty" in line and "--force" in line
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    run(tiny_checkpoints, out, "--force")
    assert sorted(p.name for p in out.iterdir()) == [DATASHEET_FILE, "notes.txt", IMAGES_FILE, LABELS_FILE]


@pytest.mark.parametrize(
    "options, says",
    [
        (["--per-class", "0"], "--per-class must be at least 1 (got 0)"),
        (["--temperature", "0"], "temperature must be > 0 and <= 3"),
        (["--temperature", "3.5"], "temperature must be > 0 and <= 3"),
        (["--min-confidence", "1.5"], "min confidence must be between 0 and 1"),
        (["--seed", "-1"], "seed must be at least 0"),
        (["--block-rows", "0"], "--block-rows must be at least 1"),
        (["--checkpoint", "no/such/checkpoint"], "no/such/checkpoint/config.json: missing"),
    ],
)
def test_a_bad_argument_is_one_line_and_status_2(
    tiny_checkpoints, tmp_path: Path, capsys, options: list[str], says: str
) -> None:
    out = tmp_path / "out"
    argv = ["--checkpoint", str(tiny_checkpoints[0]), "--per-class", "2", "--out", str(out), *options]
    assert says in error_line(capsys, argv)
    assert not out.exists()


def test_a_class_short_of_min_confidence_leaves_out_as_it_was(
    tiny_checkpoints, tmp_path: Path, capsys
) -> None:
    """The tiny classifier reads no image as any class at 0.5: one line, and nothing written."""
    cvae, classifier = tiny_checkpoints
    out = tmp_path / "short"
    argv = ["--checkpoint", str(cvae), "--classifier", str(classifier), "--per-class", "2", "--out", str(out)]
    line = error_line(capsys, [*argv, "--min-confidence", "0.5", "--max-draws", "20"])
    assert "only 0 of the 2 images asked for reached min_confidence 0.5 in 20 draws, for class 0" in line
    assert "a lower --min-confidence" in line and "more --max-draws" in line  # what to do about it
    assert not out.exists()  # the run made it: not left behind empty
    out.mkdir()
    error_line(capsys, [*argv, "--min-confidence", "0.5", "--max-draws", "20"])
    assert out.is_dir() and list(out.iterdir()) == []  # one that was there before stays


def test_the_classifier_served_with_a_model_is_found_beside_it(tmp_path: Path) -> None:
    checkpoints = ROOT / "checkpoints"
    assert paired_classifier(checkpoints / "cvae-mnist") == checkpoints / "digit-classifier"  # calibrated
    assert paired_classifier(checkpoints / "cvae-fashion") == checkpoints / "fashion-classifier"
    assert paired_classifier(checkpoints / "mlp-baseline-10") == checkpoints / "digit-classifier"  # same data
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "config.json").write_text((checkpoints / "mlp-baseline-10" / "config.json").read_text())
    with pytest.raises(CheckpointError, match="name one with --classifier"):
        paired_classifier(alone)


# The synthesis itself: the bytes depend on the arguments alone.


@pytest.fixture(scope="module")
def tiny_cvae(tiny_checkpoints) -> CVAE:
    """The tiny CVAE run blockwise, as cvae-generate and the service run it."""
    return cvae_inference_form(load_checkpoint(tiny_checkpoints[0], "cvae").model)


def synthesis(cvae: CVAE, spec: DatasetSpec, chunk_rows: int) -> Synthesis:
    def decode(labels: torch.Tensor, z: torch.Tensor) -> np.ndarray:
        return to_uint8(cvae.images(z, labels))

    return Synthesis(cvae, spec, [str(k) for k in range(10)], decode, max_draws=100, chunk_rows=chunk_rows)


@torch.inference_mode()
def test_images_depend_neither_on_chunks_nor_on_per_class(tiny_cvae: CVAE) -> None:
    """Chunks of 1 or 256 rows give the same images, and per_class=2 is the first two of per_class=5's."""

    def images(per_class: int, chunk_rows: int) -> np.ndarray:
        chunks = list(synthesis(tiny_cvae, DatasetSpec(per_class, seed=3), chunk_rows))
        assert [c.label for c in chunks] == sorted(c.label for c in chunks)  # class by class
        return np.concatenate([c.tiles for c in chunks]).reshape(10, per_class, 28, 28)

    five = images(5, 256)
    assert np.array_equal(images(5, 1), five)
    assert np.array_equal(images(2, 2), five[:, :2])


def test_each_class_has_its_own_stream() -> None:
    seeds = {class_seed(seed, label) for seed in range(3) for label in range(10)}
    assert len(seeds) == 30 and class_seed(0, 1) == class_seed(0, 1)


def test_min_confidence_needs_a_judge(tiny_cvae: CVAE) -> None:
    with pytest.raises(ValueError, match="needs a classifier"):
        Synthesis(tiny_cvae, DatasetSpec(2, 0, min_confidence=0.5), ["0"], to_uint8, max_draws=10)


@torch.inference_mode()
def test_a_class_short_of_min_confidence_raises_too_few_legible(tiny_checkpoints, tiny_cvae) -> None:
    """The tiny classifier reads every image as any class with about 0.1."""
    classifier = load_checkpoint(tiny_checkpoints[1], "classifier").model

    def judged(labels: torch.Tensor, z: torch.Tensor) -> Judged:
        return judge(tiny_cvae, classifier, z, labels)

    spec = DatasetSpec(2, 0, min_confidence=0.5)
    names = [str(k) for k in range(10)]
    with pytest.raises(TooFewLegibleError, match=r"^only 0 of the 2 .* in 30 draws, for class 0 \(0\)$"):
        list(Synthesis(tiny_cvae, spec, names, to_uint8, judged, max_draws=30))


def test_file_names_are_safe_and_sort_in_label_order() -> None:
    assert safe_name("T-shirt/top") == "T-shirt-top" and safe_name("Ankle boot") == "Ankle-boot"
    assert safe_name("../..") == "class"
    assert class_folder(3, "7", 10) == "3_7" and class_folder(3, "Dress", 12) == "03_Dress"


def test_the_tar_streams_known_sizes_and_holds_the_rest() -> None:
    pieces = [("a", b"12"), ("a", b"345"), ("b.json", b"{}")]
    archive = b"".join(tar_stream(pieces, {"a": 5}))
    assert len(archive) % 10240 == 0
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert [(m.name, m.size, m.mtime, m.mode) for m in tar] == [
            ("a", 5, 0, 0o644),
            ("b.json", 2, 0, 0o644),
        ]
        assert tar.extractfile("a").read() == b"12345"
    with pytest.raises(ValueError, match="4 bytes, not the 5"):
        b"".join(tar_stream([("a", b"1234")], {"a": 5}))


@pytest.mark.parametrize("format", ["npz", "idx"])
@torch.inference_mode()
def test_a_download_is_made_a_chunk_at_a_time(tiny_cvae: CVAE, format: str) -> None:
    """What /v1/dataset holds without min_confidence (docs/dataset.md): the pieces of its body come as the
    chunks are decoded, none larger than one chunk's images and a file header, not the whole dataset."""
    chunk_rows, per_class = 16, 40
    made = synthesis(tiny_cvae, DatasetSpec(per_class, seed=1), chunk_rows)
    decoded = 0

    def counted(chunks):
        nonlocal decoded
        for chunk in chunks:
            decoded += len(chunk.tiles)
            yield chunk

    one_chunk = chunk_rows * 28 * 28
    largest, pieces = 0, 0
    for _, data in encode(format, made, counted(made)):
        largest, pieces = max(largest, len(data)), pieces + 1
        assert decoded <= chunk_rows * (pieces + 1)  # nothing is decoded far ahead of what is sent
    assert decoded == 10 * per_class and pieces >= 10 * per_class // chunk_rows
    assert largest <= one_chunk + 1024
