"""Sets of written numbers (model/number_sets.py, their files in model/dataset_files.py, cvae-generate
--numbers): number i depends on (seed, i) alone, whatever the count and the chunks; its label is its text,
of a length in range; the .npz loads without pickle and agrees with the PNGs and labels.tsv; a model whose
classes are not the digits is refused."""

from __future__ import annotations

import io
import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.checkpoint import load_checkpoint
from model.cvae import CVAE
from model.dataset_files import (
    DATASHEET_FILE,
    NPZ_FILE,
    TEXT_LABELS_FILE,
    encode_numbers,
)
from model.images import to_uint8
from model.inference import cvae_inference_form
from model.legibility import LegibilityNet, foreseen
from model.number_sets import STYLE_SEEDS, NumberSet, NumberSetSpec
from model.numbers import MAX_DIGITS
from training.commands.generate import main

ROOT = Path(__file__).resolve().parents[1]


Networks = tuple[CVAE, LegibilityNet]


@pytest.fixture(scope="module")
def tiny_networks(tiny_checkpoints: tuple[Path, Path]) -> Networks:
    """The tiny CVAE run blockwise, as cvae-generate and the service run it, and an untrained legibility
    network, whose foresight varies from step to step, so digits are written at different steps."""
    cvae = cvae_inference_form(load_checkpoint(tiny_checkpoints[0], "cvae").model)
    torch.manual_seed(0)
    return cvae, LegibilityNet(cvae.cfg.latent_dim, cvae.cfg.num_classes).eval()


def number_set(networks: Networks, spec: NumberSetSpec, chunk_rows: int = 256) -> NumberSet:
    cvae, legibility = networks

    def decode(labels: torch.Tensor, z: torch.Tensor) -> np.ndarray:
        return to_uint8(cvae.images(z, labels))

    return NumberSet(cvae, spec, decode, partial(foreseen, legibility), chunk_rows=chunk_rows)


@torch.inference_mode()
def written(
    networks: Networks, spec: NumberSetSpec, chunk_rows: int = 256
) -> list[tuple[str, bytes, list[list[int]]]]:
    """Each number of the set: its text, its image's shape and bytes, and its boxes."""
    return [
        (number.text, repr(image.image.shape).encode() + image.image.tobytes(), image.boxes)
        for chunk in number_set(networks, spec, chunk_rows)
        for number, image in zip(chunk.numbers, chunk.written, strict=True)
    ]


def files(pieces) -> dict[str, bytes]:
    joined: dict[str, bytes] = {}
    for name, data in pieces:
        joined[name] = joined.get(name, b"") + data
    return joined


def run(checkpoints: tuple[Path, Path], out: Path, *options: str) -> Path:
    main(
        [
            "--checkpoint",
            str(checkpoints[0]),
            "--classifier",
            str(checkpoints[1]),
            "--out",
            str(out),
            *options,
        ]
    )
    return out


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("cvae-generate: error: ")
    return line


# Which numbers: the texts and style seeds.


def test_number_i_depends_on_the_seed_and_i_alone() -> None:
    few, many = NumberSetSpec(3, seed=4), NumberSetSpec(500, seed=4)
    assert [few.number(i) for i in range(3)] == [many.number(i) for i in range(3)]
    other = NumberSetSpec(3, seed=5)
    assert [other.number(i) for i in range(3)] != [few.number(i) for i in range(3)]
    styles = {many.number(i).style_seed for i in range(500)}
    assert len(styles) == 500 and all(0 <= seed < STYLE_SEEDS for seed in styles)


@pytest.mark.parametrize("lengths", [(1, 8), (3, 3), (2, 5), (1, MAX_DIGITS)])
def test_texts_are_digits_of_every_length_in_range(lengths: tuple[int, int]) -> None:
    spec = NumberSetSpec(400, seed=0, min_length=lengths[0], max_length=lengths[1])
    texts = [spec.number(i).text for i in range(spec.count)]
    assert all(text.isascii() and text.isdigit() for text in texts)
    assert {len(text) for text in texts} == set(range(lengths[0], lengths[1] + 1))
    assert {text[0] for text in texts if len(text) > 1} == set("0123456789")  # leading zeros too


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"count": 0, "seed": 0}, "numbers must be at least 1"),
        ({"count": 1, "seed": -1}, "seed must be at least 0"),
        ({"count": 1, "seed": 0, "temperature": 0}, "temperature must be > 0"),
        ({"count": 1, "seed": 0, "min_length": 4, "max_length": 3}, "got 4 to 3"),
        ({"count": 1, "seed": 0, "min_length": 0}, "lengths must be"),
        ({"count": 1, "seed": 0, "max_length": MAX_DIGITS + 1}, "lengths must be"),
    ],
)
def test_a_bad_spec_is_a_value_error(arguments: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        NumberSetSpec(**arguments)


# The images.


def test_images_depend_neither_on_chunks_nor_on_count(tiny_networks: Networks) -> None:
    spec = NumberSetSpec(7, seed=2, min_length=2, max_length=6)
    whole = written(tiny_networks, spec)
    assert [text for text, _, _ in whole] == [spec.number(i).text for i in range(7)]
    assert written(tiny_networks, spec, chunk_rows=1) == whole  # a number a chunk
    assert written(tiny_networks, spec, chunk_rows=9) == whole  # numbers cut in groups
    assert written(tiny_networks, NumberSetSpec(3, seed=2, min_length=2, max_length=6)) == whole[:3]
    assert (
        written(tiny_networks, NumberSetSpec(3, seed=2, min_length=2, max_length=6, temperature=0.5))
        != whole[:3]
    )


@torch.inference_mode()
def test_chunks_hold_at_most_chunk_rows_digits_or_one_number(tiny_networks: Networks) -> None:
    spec = NumberSetSpec(20, seed=1, min_length=3, max_length=8)
    chunks = list(number_set(tiny_networks, spec, chunk_rows=10))
    assert sum(len(chunk) for chunk in chunks) == 20
    assert all(sum(len(n.text) for n in chunk.numbers) <= 10 or len(chunk) == 1 for chunk in chunks)
    assert all(image.image.shape[1] <= spec.width for chunk in chunks for image in chunk.written)


@torch.inference_mode()
def test_the_npz_loads_without_pickle_and_agrees_with_the_pngs(tiny_networks: Networks) -> None:
    spec = NumberSetSpec(9, seed=3, min_length=1, max_length=5)
    made = number_set(tiny_networks, spec, chunk_rows=8)
    npz_files, png_files = files(encode_numbers("npz", made)), files(encode_numbers("png", made))
    assert list(npz_files) == [NPZ_FILE]
    with np.load(io.BytesIO(npz_files[NPZ_FILE]), allow_pickle=False) as npz:
        assert sorted(npz.files) == ["boxes", "images", "labels", "seeds", "widths"]
        images, widths, labels, boxes = npz["images"], npz["widths"], npz["labels"], npz["boxes"]
        assert images.shape == (9, 28, spec.width) and images.dtype == np.uint8
        assert labels.dtype == np.dtype("<U5") and boxes.shape == (9, 5, 4)
        assert npz["seeds"].tolist() == [spec.number(i).style_seed for i in range(9)]
    assert labels.tolist() == [spec.number(i).text for i in range(9)]
    lines = png_files.pop(TEXT_LABELS_FILE).decode().splitlines()
    assert list(png_files) == [f"images/{i:05d}.png" for i in range(9)]
    assert lines == [f"images/{i:05d}.png\t{label}" for i, label in enumerate(labels)]
    for i, data in enumerate(png_files.values()):
        with Image.open(io.BytesIO(data)) as png:
            assert png.mode == "L" and png.size == (widths[i], 28)
            assert np.array_equal(np.asarray(png), images[i, :, : widths[i]])
        assert not images[i, :, widths[i] :].any()  # black beyond the number
        digits = len(labels[i])
        assert (boxes[i, digits:] == -1).all() and (boxes[i, :digits, 2] <= widths[i]).all()
        assert (boxes[i, :digits] >= 0).all()


# cvae-generate --numbers.


def test_cvae_generate_writes_pngs_labels_and_a_datasheet(tiny_checkpoints, tmp_path: Path) -> None:
    options = ["--numbers", "6", "--seed", "8", "--min-length", "2", "--max-length", "4"]
    png = run(tiny_checkpoints, tmp_path / "png", *options)
    assert sorted(p.name for p in png.iterdir()) == [DATASHEET_FILE, "images", TEXT_LABELS_FILE]
    lines = [line.split("\t") for line in (png / TEXT_LABELS_FILE).read_text().splitlines()]
    spec = NumberSetSpec(6, seed=8, min_length=2, max_length=4)
    assert lines == [[f"images/{i:05d}.png", spec.number(i).text] for i in range(6)]
    npz = run(tiny_checkpoints, tmp_path / "npz", *options, "--format", "npz")
    with np.load(npz / NPZ_FILE, allow_pickle=False) as arrays:
        for i, (path, _) in enumerate(lines):
            with Image.open(png / path) as image:
                assert np.array_equal(np.asarray(image), arrays["images"][i, :, : arrays["widths"][i]])
    sheet = json.loads((npz / DATASHEET_FILE).read_text())
    config = json.loads((tiny_checkpoints[0] / "config.json").read_text())
    assert sheet["model"] == {"name": "tiny-cvae", "weights_sha256": config["weights_sha256"], "data": None}
    assert (sheet["numbers"], sheet["seed"], sheet["temperature"]) == (6, 8, 1.0)
    assert (sheet["min_length"], sheet["max_length"], sheet["max_width"]) == (2, 4, spec.width)
    assert sheet["format"] == "npz" and "allow_pickle=False" in sheet["load"]
    assert sheet["classifier"]["name"] == "tiny-classifier" and sheet["command"].endswith("--format npz")
    assert sheet["files"][NPZ_FILE]["bytes"] == (npz / NPZ_FILE).stat().st_size
    again = run(tiny_checkpoints, tmp_path / "again", *options, "--format", "npz")
    assert (again / NPZ_FILE).read_bytes() == (npz / NPZ_FILE).read_bytes()


def test_cvae_generate_refuses_a_model_that_does_not_write_digits(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    line = error_line(
        capsys, ["--checkpoint", str(ROOT / "checkpoints/cvae-fashion"), "--numbers", "2", "--out", str(out)]
    )
    assert "--numbers needs a model whose classes are the digits" in line and "Sneaker" in line
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--numbers", "2", "--per-class", "3"], "--per-class: for images of each class, not with --numbers"),
        (
            ["--numbers", "2", "--per-class", "3", "--min-confidence", "0.5"],
            "--per-class and --min-confidence:",
        ),
        (["--numbers", "2", "--format", "idx"], "--numbers writes --format npz or png"),
        (["--numbers", "2", "--min-length", "5", "--max-length", "4"], "got 5 to 4"),
        (["--numbers", "0"], "numbers must be at least 1"),
        (["--per-class", "2", "--max-length", "4"], "--max-length: only with --numbers"),
    ],
)
def test_options_of_the_other_kind_are_refused(
    tiny_checkpoints, capsys: pytest.CaptureFixture[str], tmp_path: Path, options: list[str], words: str
) -> None:
    out = tmp_path / "out"
    line = error_line(capsys, ["--checkpoint", str(tiny_checkpoints[0]), "--out", str(out), *options])
    assert words in line
    assert not out.exists() or not any(out.iterdir())
