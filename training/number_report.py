"""How well the written numbers read, and whether each is written in one hand (`make numbers`).

Number i is what `/v1/number` answers for its text with seed=i (model/numbers.py): a text of 2 to 8 digits
drawn from numpy's generator of (seed, i), its style the seed's first latent. Each digit's box is cut from
the number and set in a 28x28 frame by its centre of mass (as MNIST centres its digits); then
- legibility: the share of digits the project's classifier reads as the digit asked for (the issue's bar:
  98%);
- beside it, the same digits each drawn from a latent of its own (no shared style, no variation), read
  the same way, uncut: what the model's samples give;
- one hand: q(z|x, digit)'s mean of every cut digit; the mean distance between two digits of one number,
  over that between two digits of different numbers (different seeds, so different writers). 1 would be
  four /v1/sample calls; the lower, the more the digits of a number share one writer's style.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from model.checkpoint import load_checkpoint
from model.cvae import CVAE
from model.images import make_grid, png_bytes, to_uint8
from model.inference import inference_form
from model.legibility import stored_foresight
from model.legible import LatentStream
from model.numbers import TILE, Foresee, Hand, Written, number_labels, write

OUT = Path("benchmarks/results/numbers.json")
FIGURE = Path("docs/numbers.png")
LEGIBLE_BAR = 0.98
LENGTHS = (2, 8)
# The README's figure: a few numbers, each in the hand of its seed.
FIGURE_NUMBERS = (("2026", 0), ("2026", 1), ("31415926", 2), ("90210", 3), ("1234567890", 4))


@torch.inference_mode()
def write_number(
    cvae: CVAE, foresee: Foresee | None, text: str, seed: int, temperature: float = 1.0
) -> Written:
    """The number as /v1/number writes it (app/routes/numbers.py) at CVAE_PRECISION fp32, the default, for
    networks in the service's blockwise form: the same bytes."""
    style = LatentStream(cvae, seed, 1, temperature).take(1)[0]
    hand = Hand.drawn(seed, len(text), cvae.cfg.latent_dim)
    return write(
        hand, style, number_labels(text), lambda labels, z: to_uint8(cvae.images(z, labels)), foresee
    )


def framed(image: np.ndarray, box: list[int]) -> np.ndarray:
    """The box's pixels in a black 28x28 frame, their centre of mass at its centre (kept inside it)."""
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1][:TILE, :TILE].astype(np.float64)
    rows, columns = np.indices(crop.shape)
    mass = crop.sum() or 1.0
    centre = ((rows * crop).sum() / mass, (columns * crop).sum() / mass)
    top, left = (
        int(np.clip(round(TILE / 2 - c), 0, TILE - size)) for c, size in zip(centre, crop.shape, strict=True)
    )
    frame = np.zeros((TILE, TILE), dtype=np.uint8)
    frame[top : top + crop.shape[0], left : left + crop.shape[1]] = image[y0:y1, x0:x1][:TILE, :TILE]
    return frame


def number_text(seed: int, index: int, lengths: tuple[int, int] = LENGTHS) -> str:
    rng = np.random.default_rng([seed, index])
    length = int(rng.integers(lengths[0], lengths[1] + 1))
    return "".join(str(digit) for digit in rng.integers(0, 10, length))


def one_hand_ratio(mu: Tensor, numbers: Tensor) -> tuple[float, float]:
    """Mean distance between the encodings of two digits of one number, and of two of different numbers."""
    distances = torch.cdist(mu.double(), mu.double())
    same = numbers[:, None] == numbers[None, :]
    off_diagonal = ~torch.eye(len(mu), dtype=torch.bool)
    return distances[same & off_diagonal].mean().item(), distances[~same].mean().item()


def cut_digits(
    cvae: CVAE, foresee: Foresee | None, count: int, seed: int, temperature: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Every digit of `count` numbers cut from its box and framed (N, 1, 28, 28), its label and its number."""
    frames, labels, numbers = [], [], []
    for i in tqdm(range(count), desc="numbers", unit="number"):
        text = number_text(seed, i)
        written = write_number(cvae, foresee, text, i, temperature)
        frames += [framed(written.image, box) for box in written.boxes]
        labels += [int(digit) for digit in text]
        numbers += [i] * len(text)
    x = torch.from_numpy(np.stack(frames)).float().div(255)[:, None]
    return x, torch.tensor(labels), torch.tensor(numbers)


@torch.inference_mode()
def number_report(
    cvae: CVAE,
    classifier: torch.nn.Module,
    foresee: Foresee | None,
    count: int,
    seed: int = 0,
    temperature: float = 1.0,
) -> dict[str, object]:
    """Legibility of every cut digit and the one-hand ratio, over `count` numbers; beside it, the same numbers
    written from each digit's first step (no legibility network)."""
    x, y, owner = cut_digits(cvae, foresee, count, seed, temperature)
    right = classifier(x).argmax(dim=1) == y
    first_steps, _, _ = cut_digits(cvae, None, count, seed, temperature)
    first_right = classifier(first_steps).argmax(dim=1) == y
    mu, _ = cvae.encode(x, y)
    apart = LatentStream(cvae, seed, len(y), temperature).take(len(y))
    apart_tiles = torch.from_numpy(to_uint8(cvae.images(apart, y))).float().div(255)[:, None]
    apart_right = classifier(apart_tiles).argmax(dim=1) == y
    within, across = one_hand_ratio(mu, owner)
    return {
        "numbers": count,
        "digits": len(y),
        "lengths": list(LENGTHS),
        "temperature": temperature,
        "seeds": "number i: seed i (its style and variation), its text from numpy's generator of (seed, i)",
        "legibility_network": foresee is not None,
        "read_right": round(right.float().mean().item(), 4),
        "read_right_by_digit": {
            str(digit): round(right[y == digit].float().mean().item(), 4) for digit in range(10)
        },
        "read_right_each_digit_at_its_first_step": round(first_right.float().mean().item(), 4),
        "read_right_each_digit_its_own_latent": round(apart_right.float().mean().item(), 4),
        "encoding_distance_within_number": round(within, 4),
        "encoding_distance_across_numbers": round(across, 4),
        "one_hand_ratio": round(within / across, 4),
    }


def number_figure(cvae: CVAE, foresee: Foresee | None, path: Path = FIGURE) -> None:
    """A few numbers, each in its seed's hand, at twice the size, one under another."""
    images = [write_number(cvae, foresee, text, seed).image for text, seed in FIGURE_NUMBERS]
    width = max(image.shape[1] for image in images)
    rows = np.stack([np.pad(image, ((0, 0), (0, width - image.shape[1]))) for image in images])
    path.write_bytes(png_bytes(make_grid(rows, nrow=1), scale=2))


def served_number_report(checkpoint: Path, classifier_path: Path, count: int) -> dict[str, object]:
    """number_report of the checkpoint's networks in the form the service runs them, and the figure."""
    cpu = torch.device("cpu")
    loaded = load_checkpoint(checkpoint, "cvae", cpu)
    judge = load_checkpoint(classifier_path, "classifier", cpu)
    foresee = stored_foresight(loaded, judge)
    cvae, classifier = loaded.model, inference_form(judge.model)
    cvae.decoder = inference_form(cvae.decoder)
    start = time.perf_counter()
    report = number_report(cvae, classifier, foresee, count)
    number_figure(cvae, foresee)
    return {
        "checkpoint": str(checkpoint),
        "classifier": str(classifier_path),
        **report,
        "seconds": round(time.perf_counter() - start, 1),
        "torch": torch.__version__,
    }
