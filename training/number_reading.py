"""How well a reader of written numbers (POST /v1/read) reads them: the evaluation harness, whatever the
reader is (the command: training/commands/number_reading.py).

A reader is any callable from an upload's bytes to the digits it reads, left to right; an UploadError of
model/preprocess.py counts as reading nothing. It is measured on three kinds of upload:
- "plain": a number composed from real MNIST digits of the fixed split's TEST set (never the training
  digits, so nothing the reader or its classifier was trained or calibrated on), each cut to its ink and
  set left to right with random gaps (about 15% small overlaps, where the ink may touch), baseline and
  size jitter, drawn as dark ink on white or near-white paper, PNG;
- "photographed": such a number on paper in a phone photo (training/photos.py's pen, training/paper.py's
  sheet, photos.py's lighting kinds, colour cast, grain, blur and JPEG), the frame widened for a long one;
- "service": a number as /v1/number writes it (training/number_report.write_number), the PNG it answers
  (white on black, 28 px high or enlarged as its `height` enlarges it), half of them inverted.
Each kind has two sets: numbers of 2 to 8 digits (length uniform) and numbers of exactly 4 digits, the
issue's whole-number target. Number i of a set is drawn from its own generator, photo_rng(seed, "kind:
set", i), so a set is the same bytes whatever else is rendered, and a failure can be drawn again alone.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import io
import json
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from model import reading
from model.bounds import fixed_noise
from model.checkpoint import load_checkpoint
from model.images import png_bytes
from model.inference import inference_form
from model.legibility import stored_foresight
from model.numbers import INK, TILE
from model.ood import SCORED, gather_evidence, stored_calibration
from model.preprocess import UploadError
from training import paper
from training.data import Split
from training.number_report import write_number
from training.photos import FRAME, pen_colour, pen_ink, photo_rng

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "number-reading.json"
DEFAULT_READER = "model.reading:read_digits"
DEFAULT_CLASSIFIER = ROOT / "checkpoints" / "digit-classifier"
DEFAULT_PER_KIND = 300
DEFAULT_FOUR_DIGIT = 200

KINDS = ("plain", "photographed", "service")
MIXED, FOUR_DIGITS = "2 to 8 digits", "4 digits"
SETS = {MIXED: (2, 8), FOUR_DIGITS: (4, 4)}  # lengths, both ends included
# The targets: (measure, kinds, set, at least).
TARGETS = (
    ("digit_accuracy", ("plain", "photographed"), MIXED, 0.97),
    ("number_accuracy", ("plain", "photographed"), FOUR_DIGITS, 0.90),
    ("digit_accuracy", ("service",), MIXED, 0.99),
)

# Composition, in pixels at MNIST's scale (a digit's 20-pixel box in a 28-pixel tile).
STRIP_ROWS = TILE + 8  # room for the size and baseline jitter
GAP = (1, 10)
OVERLAP = (1, 3)
OVERLAP_SHARE = 0.15
BASELINE = 2
SCALE = (0.9, 1.1)
MARGIN = 4
# Height of a digit's 20-pixel box once drawn, in upload pixels (photos.py's convention).
DIGIT_HEIGHT = (40, 120)
FAILURES_KEPT = 5
# A failure's upload in the montage fits this box (width, height).
THUMBNAIL = (480, 160)
# The figure of numbers read back: the first EXAMPLES numbers of each kind's 4-digit set, as they come.
EXAMPLES = 2
EXAMPLE_KINDS = ("plain", "photographed")

Reader = Callable[[bytes], Sequence[int]]
# The service's writer: (text, seed) -> the number's uint8 image, white on black, TILE pixels high.
Writer = Callable[[str, int], np.ndarray]
# Preprocessed images (N, 1, 28, 28) -> their ood_score (N,).
OodScore = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Spacing:
    """How one number's digits are set: each digit's scale, its shift down (pixels) and the gap (pixels,
    negative for an overlap) between its ink and the previous digit's; the first digit's gap is unused."""

    scales: np.ndarray
    shifts: np.ndarray
    gaps: np.ndarray

    @classmethod
    def drawn(cls, n: int, rng: np.random.Generator) -> Spacing:
        """Most gaps 1 to 10 pixels, OVERLAP_SHARE of them overlaps of 1 to 3 pixels."""
        scales = rng.uniform(*SCALE, n)
        shifts = rng.integers(-BASELINE, BASELINE + 1, n)
        overlaps = rng.random(n) < OVERLAP_SHARE
        gaps = np.where(
            overlaps, -rng.integers(OVERLAP[0], OVERLAP[1] + 1, n), rng.integers(GAP[0], GAP[1] + 1, n)
        )
        gaps[0] = 0
        return cls(scales, shifts, gaps)

    def set(self, digits: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The digits (n, 28, 28) uint8, white on black, set left to right in a strip STRIP_ROWS high, and
        each digit's ink columns [start, end) in it. An overlap is at most a third of the narrower digit,
        so that a narrow 1 never starts before the digit it follows."""
        tiles = [
            _scaled(digit, scale, int(shift))
            for digit, scale, shift in zip(digits, self.scales, self.shifts, strict=True)
        ]
        spans, right = [], MARGIN
        for k, tile in enumerate(tiles):
            gap = 0 if k == 0 else max(int(self.gaps[k]), -(min(tile.shape[1], tiles[k - 1].shape[1]) // 3))
            spans.append((right + gap, right + gap + tile.shape[1]))
            right = spans[-1][1]
        strip = np.zeros((STRIP_ROWS, right + MARGIN), dtype=np.uint8)
        for tile, (start, end) in zip(tiles, spans, strict=True):
            np.maximum(strip[:, start:end], tile, out=strip[:, start:end])
        return strip, spans


def compose_number(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A number as one white-on-black uint8 strip (STRIP_ROWS high): the digits (n, 28, 28) in order, each
    cut to its ink columns, with random gaps and overlaps, baseline and size jitter, and a margin."""
    return Spacing.drawn(len(digits), rng).set(digits)[0]


def _scaled(digit: np.ndarray, scale: float, shift: int) -> np.ndarray:
    """The digit scaled about its centre, moved down `shift` pixels in a STRIP_ROWS-high tile, cut to the
    columns where it has ink (the middle one when it has none)."""
    side = round(TILE * scale)
    scaled = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR))
    tile = np.zeros((STRIP_ROWS, side), dtype=np.uint8)
    top = (STRIP_ROWS - side) // 2 + shift
    tile[top : top + side] = scaled
    inked = np.flatnonzero(tile.max(axis=0) >= INK)
    start, end = (int(inked[0]), int(inked[-1]) + 1) if len(inked) else (side // 2, side // 2 + 1)
    return tile[:, start:end]


def _enlarged(strip: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The strip as a pen's ink (0 to 1), its digits DIGIT_HEIGHT pixels high, and that height."""
    digit_height = rng.uniform(*DIGIT_HEIGHT)
    return pen_ink(strip, round(strip.shape[0] * digit_height / 20), rng), digit_height


def plain_upload(strip: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """The strip in dark ink on white (half of them) or near-white paper with a margin of 0.1 to 1 digit
    height on each side, as a grayscale PNG; and the paper's name."""
    ink, digit_height = _enlarged(strip, rng)
    white = rng.random() < 0.5
    page_level = 1.0 if white else rng.uniform(0.88, 0.98)
    pen_level = rng.uniform(0.0, 0.25)
    top, bottom, left, right = (rng.uniform(0.1, 1.0, 4) * digit_height).round().astype(int)
    page = np.full((top + ink.shape[0] + bottom, left + ink.shape[1] + right), page_level, np.float32)
    page[top : top + ink.shape[0], left : left + ink.shape[1]] -= ink * (page_level - pen_level)
    return _png(page), "white paper" if white else "near-white paper"


def photographed_upload(strip: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """The strip written on plain paper and photographed in a 640x480 or 480x640 frame, widened (or made
    taller) when the number with a margin of 0.3 digit heights would not fit: the whole number is always
    in frame. The light is one of training/paper.py's LIGHTS, which is returned."""
    ink, digit_height = _enlarged(strip, rng)
    width, height = FRAME if rng.random() < 0.5 else FRAME[::-1]
    pad = round(0.3 * digit_height)
    frame = (max(height, ink.shape[0] + 2 * pad), max(width, ink.shape[1] + 2 * pad))
    top, left = (
        int(rng.integers(pad, length - size - pad + 1)) for length, size in zip(frame, ink.shape, strict=True)
    )
    rows, cols = np.flatnonzero((ink > 0.3).any(axis=1)), np.flatnonzero((ink > 0.3).any(axis=0))
    box = (top + rows[0], left + cols[0], top + rows[-1] + 1, left + cols[-1] + 1)
    page = paper.sheet("plain", rng, frame, digit_height, box)
    paper.write(page, ink, top, left, pen_colour(rng), rng.uniform(0.8, 0.97), rng)
    light = str(rng.choice(paper.LIGHTS))
    return paper.photographed(page, rng, light, (top + ink.shape[0] / 2, left + ink.shape[1] / 2)), light


def service_upload(image: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """The service's number (white on black, TILE high) as the PNG /v1/number answers: at its default
    height on half of them, else at a height up to 4 TILEs (resized as model/numbers.py resizes it);
    inverted to dark on white on half of them, as a user might upload a printed copy."""
    height = TILE if rng.random() < 0.5 else int(rng.integers(TILE + 1, 4 * TILE + 1))
    if height != TILE:
        width = round(image.shape[1] * height / TILE)
        image = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
    inverted = rng.random() < 0.5
    return png_bytes(255 - image if inverted else image), "dark on white" if inverted else "white on black"


def _png(page: np.ndarray) -> bytes:
    """A grayscale page (floats, 1 is white) as a PNG file."""
    buffer = io.BytesIO()
    Image.fromarray(np.clip(page * 255 + 0.5, 0, 255).astype(np.uint8), "L").save(buffer, format="PNG")
    return buffer.getvalue()


RENDERERS: dict[str, Callable[[np.ndarray, np.random.Generator], tuple[bytes, str]]] = {
    "plain": plain_upload,
    "photographed": photographed_upload,
}


@dataclass(frozen=True)
class Material:
    """What the numbers are made of: test digits and their labels, and the service's writer (needed only
    for the "service" kind). Made `of` a split, it holds the split's test digits only."""

    images: np.ndarray
    labels: np.ndarray
    write: Writer | None = None

    @classmethod
    def of(cls, split: Split, write: Writer | None = None) -> Material:
        return cls(split.test_images, split.test_labels, write)


@dataclass(frozen=True)
class NumberUpload:
    """One test upload: its kind, set and index (what draws it again), the digits it shows, its bytes, how
    it was drawn (the light, the paper, the polarity) and the test digits it is made of (none for the
    service's)."""

    kind: str
    group: str
    index: int
    digits: tuple[int, ...]
    data: bytes
    variant: str
    sources: tuple[int, ...] = ()

    @property
    def text(self) -> str:
        return "".join(map(str, self.digits))


def number_upload(kind: str, group: str, index: int, seed: int, material: Material) -> NumberUpload:
    """Number `index` of the set `group` of `kind`, from its own generator: its length uniform in the
    set's lengths, its digits the test digits drawn (with replacement) or, for the service, random."""
    if kind not in KINDS or group not in SETS:
        raise ValueError(f"unknown kind {kind!r} or set {group!r} (expected {KINDS} and {tuple(SETS)})")
    rng = photo_rng(seed, f"{kind}: {group}", index)
    length = int(rng.integers(SETS[group][0], SETS[group][1] + 1))
    if kind == "service":
        if material.write is None:
            raise ValueError("the service's numbers need a writer (service_writer)")
        digits = rng.integers(0, 10, length)
        image = material.write("".join(map(str, digits)), int(rng.integers(2**31)))
        data, variant = service_upload(image, rng)
        return NumberUpload(kind, group, index, tuple(int(d) for d in digits), data, variant)
    sources = rng.integers(0, len(material.images), length)
    strip = compose_number(material.images[sources], rng)
    data, variant = RENDERERS[kind](strip, rng)
    digits = tuple(int(material.labels[i]) for i in sources)
    return NumberUpload(kind, group, index, digits, data, variant, tuple(int(i) for i in sources))


def number_uploads(
    kinds: Iterable[str], counts: dict[str, int], seed: int, material: Material
) -> Iterator[NumberUpload]:
    """The first counts[group] numbers of every set of every kind, drawn as they are consumed."""
    for kind in kinds:
        for group, count in counts.items():
            for index in range(count):
                yield number_upload(kind, group, index, seed, material)


def load_classifier(path: str | Path) -> torch.nn.Module:
    """A digit classifier on the CPU in the service's form, as the service judges and reads with it."""
    return inference_form(load_checkpoint(path, "classifier", torch.device("cpu")).model)


def service_writer(checkpoint: str | Path, classifier_path: str | Path) -> Writer:
    """The CVAE on the CPU, its decoder in the service's form, writing numbers as /v1/number does: each
    digit at the step its legibility network chooses (training/number_report.write_number)."""
    cpu = torch.device("cpu")
    loaded = load_checkpoint(checkpoint, "cvae", cpu)
    foresee = stored_foresight(loaded, load_checkpoint(classifier_path, "classifier", cpu))
    cvae = loaded.model
    cvae.decoder = inference_form(cvae.decoder)
    return lambda text, seed: write_number(cvae, foresee, text, seed).image


def load_ood_score(checkpoint: str | Path, classifier_path: str | Path) -> OodScore | None:
    """The ood_score the service gives preprocessed images (N, 1, 28, 28) with this model and classifier
    (model/ood.py), on the CPU; None when the model has no calibration made with this classifier, as the
    service then has none."""
    device = torch.device("cpu")
    cvae = load_checkpoint(checkpoint, "cvae", device)
    classifier = load_checkpoint(classifier_path, "classifier", device)
    if cvae.config.get("ood", {}).get("classifier_sha256") != classifier.config["weights_sha256"]:
        return None
    calibration = stored_calibration(cvae)
    noise = fixed_noise(cvae.model.cfg.latent_dim)

    def score(x: torch.Tensor) -> torch.Tensor:
        evidence = gather_evidence(cvae.model, classifier.model, x, noise, SCORED)
        return calibration.score_of(cvae.model, evidence, calibration.detector)

    return score


def load_reader(
    spec: str,
    classifier: Callable[[], torch.nn.Module] = lambda: load_classifier(DEFAULT_CLASSIFIER),
    ood_score: Callable[[], OodScore | None] = lambda: None,
) -> Reader:
    """The function named MODULE:FUNCTION; SystemExit with what is missing when it is not there (the
    reader may not be written yet). A function that takes a `classifier` too is given `classifier()` (e.g.
    load_classifier's), and one that takes an `ood_score`, `ood_score()` (load_ood_score's), so that
    model/reading.py's read_digits(data, classifier, ood_score) is measured as the service runs it."""
    module_name, _, function = spec.partition(":")
    if not module_name or not function:
        raise SystemExit(f"--reader {spec!r}: expected MODULE:FUNCTION, e.g. {DEFAULT_READER}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise  # the module is there, one of its imports is not
        raise SystemExit(
            f"--reader {spec}: there is no module {module_name} (is the reader written yet?)"
        ) from e
    read = getattr(module, function, None)
    if not callable(read):
        raise SystemExit(f"--reader {spec}: {module_name} has no function {function}")
    parameters = inspect.signature(read).parameters
    given: dict[str, Any] = {}
    if "classifier" in parameters:
        given["classifier"] = classifier()
    if "ood_score" in parameters:
        given["ood_score"] = ood_score()
    return functools.partial(read, **given) if given else read


def edit_distance(true: Sequence[int], read: Sequence[int]) -> int:
    """Levenshtein distance: the fewest digits substituted, dropped or added to make `read` the truth."""
    previous = list(range(len(read) + 1))
    for i, digit in enumerate(true, 1):
        current = [i]
        for j, got in enumerate(read, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (digit != got)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class _Read:
    """One upload's reading and what it scores."""

    upload: NumberUpload
    read: tuple[int, ...]
    refused: bool
    seconds: float

    @property
    def right_digits(self) -> int:
        """The true digits the reading gets right: its length less the edits to it, so that a dropped,
        extra or wrong digit each cost one (never below none)."""
        return max(0, len(self.upload.digits) - edit_distance(self.upload.digits, self.read))


def evaluate(read: Reader, numbers: Iterable[NumberUpload], failures: int = FAILURES_KEPT) -> dict[str, Any]:
    """Per kind and set: the share of true digits read (see _Read.right_digits), of numbers read exactly,
    of readings with the wrong count of digits, uploads refused (UploadError: read as nothing), ms per
    read, the same scores by length and by variant, and the first `failures` misreadings."""
    readings: dict[str, dict[str, list[_Read]]] = defaultdict(lambda: defaultdict(list))
    for upload in numbers:
        start = time.perf_counter()
        try:
            digits, refused = tuple(int(digit) for digit in read(upload.data)), False
        except UploadError:
            digits, refused = (), True
        reading = _Read(upload, digits, refused, time.perf_counter() - start)
        readings[upload.kind][upload.group].append(reading)
    return {
        kind: {group: _summary(rows, failures) for group, rows in groups.items()}
        for kind, groups in readings.items()
    }


def _scores(rows: Sequence[_Read]) -> dict[str, Any]:
    digits = sum(len(row.upload.digits) for row in rows)
    return {
        "numbers": len(rows),
        "digits": digits,
        "digit_accuracy": round(sum(row.right_digits for row in rows) / digits, 4),
        "number_accuracy": round(sum(row.read == row.upload.digits for row in rows) / len(rows), 4),
        "wrong_count": round(sum(len(row.read) != len(row.upload.digits) for row in rows) / len(rows), 4),
    }


def _summary(rows: Sequence[_Read], failures: int) -> dict[str, Any]:
    def by(key: Callable[[_Read], object]) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[_Read]] = defaultdict(list)
        for row in rows:
            groups[str(key(row))].append(row)
        return {name: _scores(groups[name]) for name in sorted(groups)}

    wrong = [row for row in rows if row.read != row.upload.digits]
    return {
        **_scores(rows),
        "refused": sum(row.refused for row in rows),
        "ms_per_read": round(1000 * float(np.mean([row.seconds for row in rows])), 2),
        "ms_per_read_max": round(1000 * max(row.seconds for row in rows), 2),
        "by_length": by(lambda row: len(row.upload.digits)),
        "by_variant": by(lambda row: row.upload.variant),
        "failures": [
            {
                "index": row.upload.index,
                "true": row.upload.text,
                "read": "".join(map(str, row.read)) if not row.refused else None,
                "variant": row.upload.variant,
            }
            for row in wrong[:failures]
        ],
    }


def targets(kinds: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each with its measured value (None when that kind or set was not run)."""
    rows = []
    for measure, target_kinds, group, bar in TARGETS:
        for kind in target_kinds:
            value = kinds.get(kind, {}).get(group, {}).get(measure)
            met = None if value is None else value >= bar
            rows.append(
                {"kind": kind, "set": group, "measure": measure, "value": value, "target": bar, "met": met}
            )
    return rows


def markdown_table(kinds: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| kind | numbers | digits read | numbers read | digit count wrong | refused | ms/read |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, groups in kinds.items():
        for group, row in groups.items():
            lines.append(
                f"| {kind}, {group} | {row['numbers']} | {100 * row['digit_accuracy']:.1f}% "
                f"| {100 * row['number_accuracy']:.1f}% | {100 * row['wrong_count']:.1f}% | {row['refused']} "
                f"| {row['ms_per_read']} |"
            )
    return "\n".join(lines)


def number_reading_report(
    read: Reader,
    material: Material,
    counts: dict[str, int],
    seed: int,
    about: dict[str, str],
    progress: Callable[[Iterator[NumberUpload], int], Iterable[NumberUpload]] = lambda it, total: it,
) -> dict[str, Any]:
    """`read` over every set of every kind (`counts` numbers of each set; no service kind without a
    writer), and the issue's targets; `about` names what was measured (reader, data, checkpoints),
    `progress` wraps the stream of uploads (a progress bar)."""
    kinds = KINDS if material.write is not None else tuple(kind for kind in KINDS if kind != "service")
    total = len(kinds) * sum(counts.values())
    results = evaluate(read, progress(number_uploads(kinds, counts, seed, material), total))
    return {
        "benchmark": "written numbers read: training/number_reading.py",
        **about,
        "seed": seed,
        "numbers_per_set": counts,
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads",
        "digit_accuracy": "true digits read, less one per digit dropped, added or wrong (Levenshtein)",
        "targets": targets(results),
        "kinds": results,
    }


def write_montage(kinds: dict[str, dict[str, Any]], seed: int, material: Material, path: Path) -> int:
    """The report's failures drawn again, each downscaled into THUMBNAIL with its true and read text above
    it, one under another in a PNG at `path`, and their list beside it (.json); the count of failures
    drawn. Looking at them tells a reader's mistake from a number no one could read."""
    shown, tiles = [], []
    for kind, groups in kinds.items():
        for group, row in groups.items():
            for failure in row["failures"]:
                upload = number_upload(kind, group, failure["index"], seed, material)
                image = Image.open(io.BytesIO(upload.data)).convert("L")
                image.thumbnail(THUMBNAIL)
                shown.append({"kind": kind, "set": group, **failure})
                tiles.append(image)
    if not tiles:
        return 0
    captions = [
        f"{item['kind']}, {item['set']} #{item['index']}: {item['true']} "
        + ("refused" if item["read"] is None else f"read {item['read']}")
        for item in shown
    ]
    _save_captioned(path, captions, tiles, background=128, text=255)
    path.with_suffix(".json").write_text(json.dumps(shown, indent=2) + "\n")
    return len(shown)


def _save_captioned(
    path: Path, captions: list[str], tiles: list[Image.Image], background: Any, text: Any
) -> None:
    """The tiles one under another in a PNG at `path`, THUMBNAIL wide, each with its caption above it, in
    the tiles' mode (the colours are of that mode)."""
    line = 14
    canvas = Image.new(
        tiles[0].mode, (THUMBNAIL[0], sum(line + tile.height + 4 for tile in tiles)), background
    )
    draw, top = ImageDraw.Draw(canvas), 0
    for caption, tile in zip(captions, tiles, strict=True):
        draw.text((2, top), caption, fill=text)
        canvas.paste(tile, (0, top + line))
        top += line + tile.height + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")


def write_examples(
    seed: int,
    material: Material,
    classifier: torch.nn.Module,
    ood_score: OodScore | None,
    path: Path,
    count: int = EXAMPLES,
) -> list[dict[str, Any]]:
    """The first `count` 4-digit numbers of each of EXAMPLE_KINDS (not chosen: as the set draws them), each
    with the boxes of the digits model/reading.py reads and its true and read text above it, one under another
    in a PNG at `path` (the README's picture of a number read back); what each shows and read."""
    shown, tiles = [], []
    for kind in EXAMPLE_KINDS:
        for index in range(count):
            upload = number_upload(kind, FOUR_DIGITS, index, seed, material)
            read = reading.read_number(upload.data, classifier, ood_score)
            image = Image.open(io.BytesIO(upload.data)).convert("RGB")
            boxes = np.array([box for _, box in read]).reshape(-1, 4)
            if len(boxes):
                # The number and a digit's height of the page around it, enlarged or reduced to THUMBNAIL.
                margin = int(boxes[:, 3].max() - boxes[:, 1].min())
                left, top = np.maximum(boxes[:, :2].min(axis=0) - margin, 0)
                right, bottom = np.minimum(boxes[:, 2:].max(axis=0) + margin, image.size)
                image, boxes = image.crop((left, top, right, bottom)), boxes - [left, top, left, top]
            scale = min(THUMBNAIL[0] / image.width, THUMBNAIL[1] / image.height)
            image = image.resize((round(image.width * scale), round(image.height * scale)))
            draw = ImageDraw.Draw(image)
            for box in boxes * scale:
                draw.rectangle([*box[:2], *(box[2:] - 1)], outline=(220, 30, 30), width=2)
            text = "".join(str(digit) for digit, _ in read)
            shown.append({"kind": kind, "index": index, "true": upload.text, "read": text})
            tiles.append(image)
    captions = [f"{item['kind']}: {item['true']}, read {item['read']}" for item in shown]
    _save_captioned(path, captions, tiles, background=(255, 255, 255), text=(0, 0, 0))
    return shown
