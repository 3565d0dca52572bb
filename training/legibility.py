"""Teach the legibility network (model/legibility.py) the classifier's verdicts on decoded latents:
`cvae-legibility CHECKPOINT`, part of `make evaluate`.

The latents are those a number's digits are written from (model/numbers.py): a style z ~ N(0, T^2 I), T
log-uniform between MIN_TEMPERATURE and the largest temperature the service takes, moved by a step of
Z_STEP; each label equally often. Each is decoded and read by the classifier as the service runs them
(model/legible.judge, blockwise networks); the target is whether it reads as its label with at least
LEGIBLE. One latent in HELD_OUT is kept out of training to measure the network on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from model.checkpoint import check_classifier_fits, class_names, load_checkpoint, write_config
from model.inference import cvae_inference_form, inference_form
from model.legibility import HIDDEN_DIM, LEGIBILITY_FILE, LEGIBLE, LegibilityNet
from model.legible import judge
from model.numbers import Z_STEP, writes_numbers
from model.synthetic import MAX_TEMPERATURE

MIN_TEMPERATURE = 0.1
HELD_OUT = 8
CHUNK = 512
BATCH = 512
LR = 3e-3

# verdict(labels, z): whether each row's image reads as its label with at least LEGIBLE.
Verdict = Callable[[Tensor, Tensor], Tensor]


def draw_latents(count: int, latent_dim: int, num_classes: int, seed: int) -> tuple[Tensor, Tensor]:
    """`count` latents as numbers are written from them, and their labels (module docstring)."""
    generator = torch.Generator().manual_seed(seed)
    low, high = math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)
    temperature = torch.empty(count).uniform_(low, high, generator=generator).exp()
    style = torch.randn(count, latent_dim, generator=generator) * temperature[:, None]
    z = style + Z_STEP * torch.randn(count, latent_dim, generator=generator)
    return z, torch.arange(count) % num_classes


def verdicts(verdict: Verdict, labels: Tensor, z: Tensor) -> Tensor:
    """verdict() of every row, CHUNK rows at a time, with a progress bar."""
    chunks = zip(labels.split(CHUNK), z.split(CHUNK), strict=True)
    total = math.ceil(len(z) / CHUNK)
    return torch.cat([verdict(*chunk) for chunk in tqdm(chunks, total=total, desc="judging", unit="chunk")])


def fit(
    z: Tensor, labels: Tensor, legible: Tensor, num_classes: int, epochs: int, seed: int
) -> tuple[LegibilityNet, dict[str, float]]:
    """The network trained on all but every HELD_OUT-th row, and how it does on those (threshold 0.5)."""
    torch.manual_seed(seed)
    held = torch.arange(len(z)) % HELD_OUT == 0
    net = LegibilityNet(z.shape[1], num_classes)
    optimiser = torch.optim.AdamW(net.parameters(), LR, weight_decay=1e-4)
    train = (~held).nonzero().squeeze(1)
    steps = epochs * math.ceil(len(train) / BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LR, total_steps=steps)
    target = legible.float()
    for _ in tqdm(range(epochs), desc="training", unit="epoch"):
        for batch in train[torch.randperm(len(train))].split(BATCH):
            loss = nn.functional.binary_cross_entropy_with_logits(net(z[batch], labels[batch]), target[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    net.eval()
    with torch.inference_mode():
        foreseen = net(z[held], labels[held]) > 0
    truth = legible[held]
    return net, {
        "held_out": int(held.sum()),
        "legible_share": round(truth.float().mean().item(), 4),
        "accuracy": round((foreseen == truth).float().mean().item(), 4),
        "precision": round(truth[foreseen].float().mean().item(), 4),
        "recall": round(foreseen[truth].float().mean().item(), 4),
    }


def train_legibility(
    checkpoint: str | Path,
    classifier_path: str | Path,
    *,
    count: int,
    epochs: int,
    seed: int,
    device: torch.device,
    write: bool,
) -> dict[str, Any]:
    """Train the network for the CVAE at `checkpoint` and the classifier at `classifier_path` and, with
    `write`, store it in the checkpoint (legibility.safetensors and config.json); returns the summary."""
    loaded = load_checkpoint(checkpoint, "cvae", device)
    if not writes_numbers(class_names(loaded.config)):
        raise ValueError(f"{checkpoint}: only a model of the digits 0-9 writes numbers")
    classifier = load_checkpoint(classifier_path, "classifier", device)
    check_classifier_fits(loaded, classifier)
    cvae = cvae_inference_form(loaded.model)
    network = inference_form(classifier.model)

    def verdict(labels: Tensor, z: Tensor) -> Tensor:
        return judge(cvae, network, z.to(device), labels.to(device)).confidence.double() >= LEGIBLE

    start = time.perf_counter()
    cfg = cvae.cfg
    z, labels = draw_latents(count, cfg.latent_dim, cfg.num_classes, seed)
    net, metrics = fit(z, labels, verdicts(verdict, labels, z), cfg.num_classes, epochs, seed)
    record = {
        "classifier_sha256": classifier.config["weights_sha256"],
        "hidden_dim": HIDDEN_DIM,
        "legible": LEGIBLE,
        "latents": count,
        "temperatures": [MIN_TEMPERATURE, MAX_TEMPERATURE],
        "epochs": epochs,
        "seed": seed,
        "metrics": metrics,
        "seconds": round(time.perf_counter() - start, 1),
    }
    if write:
        write_config(checkpoint, {**loaded.config, "legibility": record}, {LEGIBILITY_FILE: net.state_dict()})
    return record
