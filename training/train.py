"""The CVAE training loop: plain PyTorch, readable top to bottom (pytorch/examples, nanoGPT).

Every epoch ends with a checkpoint (weights + config.json with the history) and a resume state
(optimizer moments and RNG state), written as one commit (model/checkpoint.py), so a run killed at any moment
leaves the previous or the new epoch whole and `--resume` continues exactly where it stopped: on the CPU, an
interrupted and resumed run ends with the same weights as an uninterrupted one.
Under `torchrun` (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel (gloo on CPU, NCCL on GPU)
and each process takes its share of every batch.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, get_args

import torch
import torch.distributed as dist
from safetensors import safe_open
from torch import Tensor
from tqdm import tqdm

from model.bounds import elbo
from model.checkpoint import (
    CONFIG_FILE,
    checkpoint_file,
    load_checkpoint,
    load_tensors,
    read_config,
    save_checkpoint,
)
from model.config import CVAEConfig
from model.cvae import CVAE
from model.device import Precision, autocast_dtype, resolve_device
from model.loss import cvae_loss
from training.augment import jitter
from training.data import Split, epoch_order, evenly_spaced, to_tensors

log = logging.getLogger("cvae.train")
STATE_FILE = "resume_state.safetensors"
Schedule = Literal["onecycle", "cosine", "constant"]
SCHEDULES: tuple[Schedule, ...] = get_args(Schedule)
# Steps between readings of the running loss for the progress bar: each `.item()` waits for the device.
LOG_EVERY = 50


@dataclass
class TrainConfig:
    """Optimisation settings; saved in config.json under "training"."""

    epochs: int = 140
    batch_size: int = 64
    lr: float = 2e-3
    schedule: Schedule = "onecycle"
    beta: float = 1.2
    kl_warmup: int = 3
    augment: float = 0.5
    precision: Precision = "auto"
    eval_images: int = 0
    seed: int = 0
    device: str = "auto"

    def lr_at(self, step: int, total: int) -> float:
        """Learning rate at a step: constant, cosine decay, or one-cycle (10% warm-up, then cosine down)."""
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "cosine":
            return 0.5 * self.lr * (1 + math.cos(math.pi * step / total))
        if self.schedule == "onecycle":
            warm = max(1, total // 10)
            if step < warm:
                return self.lr * (0.04 + 0.96 * step / warm)
            return 0.5 * self.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
        raise ValueError(f"unknown schedule {self.schedule!r} (expected one of {', '.join(SCHEDULES)})")

    def beta_at(self, step: int, steps_per_epoch: int) -> float:
        """KL weight, raised linearly from 0 to `beta` over the first `kl_warmup` epochs."""
        if self.kl_warmup <= 0:
            return self.beta
        return self.beta * min(1.0, (step + 1) / (self.kl_warmup * steps_per_epoch))


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass
class Run:
    """One training run as train() sets it up and each epoch advances it; save_epoch writes it."""

    out_dir: Path
    model_cfg: CVAEConfig
    train_cfg: TrainConfig
    split: Split
    model: CVAE
    optimizer: torch.optim.Optimizer
    device: torch.device
    amp_dtype: torch.dtype | None
    ddp: Distributed
    history: list[dict[str, float]] = field(default_factory=list)

    def runtime(self) -> dict[str, str | int]:
        """What `auto` resolved to, for config.json: the device and precision the run really used."""
        precision = "bf16" if self.amp_dtype == torch.bfloat16 else "fp32"
        return {"device": self.device.type, "precision": precision, "processes": self.ddp.world_size}


Saver = Callable[[Run], None]


class _GivenNoise(torch.nn.Module):
    """The CVAE's forward with the reparameterization noise eps passed in (z = mu + sigma * eps).

    Under DDP every rank draws the noise of the whole global batch, as one process would, and takes its own
    rows: N processes then train like one, and ranks do not reuse one another's noise.
    """

    def __init__(self, model: CVAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, y: Tensor, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.model.encode(x, y)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.model.decode(z, y), mu, logvar


def _setup_distributed(device: torch.device) -> Distributed:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed()
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size())


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, Tensor]:
    tensors = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value)
    return tensors


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor]) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    param_groups = optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


@torch.no_grad()
def mean_negative_elbo(model: CVAE, x: Tensor, y: Tensor, batch_size: int = 500, seed: int = 0) -> float:
    """Mean test -ELBO with one z per image and a fixed noise seed, for the per-epoch log line."""
    generator = torch.Generator(device=x.device).manual_seed(seed)
    total = sum(
        -elbo(model, x[i : i + batch_size], y[i : i + batch_size], 1, generator).sum().item()
        for i in range(0, len(x), batch_size)
    )
    return total / len(x)


def train(
    model_cfg: CVAEConfig,
    train_cfg: TrainConfig,
    split: Split,
    out_dir: str | Path,
    resume: bool = False,
    save: Saver | None = None,
) -> Path:
    """Train (or resume) a CVAE on `split`, writing a checkpoint to `out_dir` after every epoch (with `save`,
    save_epoch by default: a caller can wrap it to watch or interrupt the saves)."""
    run = _start(model_cfg, train_cfg, split, Path(out_dir), resume)
    net: torch.nn.Module = _GivenNoise(run.model)
    if run.ddp.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[run.device.index] if run.device.index else None
        )
    x_train, y_train = (t.to(run.device) for t in to_tensors(split.train_images, split.train_labels))
    # The per-epoch test -ELBO, on all test images or --eval-images of them (1,000 of Fashion-MNIST's 10,000
    # save 3 s of a 37 s epoch on the CPU); cvae-evaluate measures the finished model on the whole split.
    chosen = evenly_spaced(len(split.test_images), train_cfg.eval_images)
    x_test, y_test = (
        t.to(run.device) for t in to_tensors(split.test_images[chosen], split.test_labels[chosen])
    )
    for epoch in range(len(run.history), train_cfg.epochs):
        train_loss = _train_epoch(run, net, x_train, y_train, epoch)
        run.model.eval()
        test_loss = mean_negative_elbo(run.model, x_test, y_test, seed=train_cfg.seed)
        run.history.append({"epoch": epoch + 1, "train_loss": train_loss, "test_neg_elbo": test_loss})
        if run.ddp.is_main:
            log.info(
                "epoch %d/%d  train loss %.2f  test -ELBO %.2f nats",
                epoch + 1,
                train_cfg.epochs,
                train_loss,
                test_loss,
            )
            (save or save_epoch)(run)
    if run.ddp.world_size > 1:
        dist.destroy_process_group()
    return run.out_dir


def _start(model_cfg: CVAEConfig, train_cfg: TrainConfig, split: Split, out_dir: Path, resume: bool) -> Run:
    """The run's device, process group, model and optimizer, restored from `out_dir` on --resume."""
    device = resolve_device(train_cfg.device)
    ddp = _setup_distributed(device)
    if ddp.world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.manual_seed(train_cfg.seed)
    # channels_last: the layout oneDNN and cuDNN convolve fastest (no effect on the MLP's weights).
    model = CVAE(model_cfg).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    run = Run(
        out_dir,
        model_cfg,
        train_cfg,
        split,
        model,
        optimizer,
        device,
        autocast_dtype(train_cfg.precision, device),
        ddp,
    )
    if resume and checkpoint_file(out_dir, CONFIG_FILE).is_file():
        run.history = _restore(run)
        if ddp.is_main:
            log.info("resuming %s from epoch %d", out_dir, len(run.history))
    if ddp.is_main:
        log.info("training on %s in %s", device, run.amp_dtype or torch.float32)
    return run


def _train_epoch(run: Run, net: torch.nn.Module, x_train: Tensor, y_train: Tensor, epoch: int) -> float:
    """One pass over the shuffled train split; returns the mean training loss of this process's rows."""
    cfg, ddp, device, amp_dtype = run.train_cfg, run.ddp, run.device, run.amp_dtype
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    run.model.train()
    order = epoch_order(len(x_train), cfg.seed, epoch)
    # Derived from (seed, epoch) through the order, so a resumed run warps the same images the same way.
    augment_rng = torch.Generator().manual_seed(int(order[0]) + 7919 * epoch)
    # Summed on the device and read back only to be shown: a `.item()` per step would wait for every step.
    running = torch.zeros((), dtype=torch.float64, device=device)
    seen = 0
    bar = tqdm(
        range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not ddp.is_main
    )
    for i in bar:
        step = epoch * steps_per_epoch + i
        whole = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
        batch = whole[ddp.rank :: ddp.world_size]
        # Jitter and noise are drawn for the whole global batch on every rank, each rank keeping its rows,
        # so that they are what one process would draw (in the dtype of mu, as CVAE.forward draws it).
        x, y = x_train[whole.to(device)], y_train[batch.to(device)]
        if cfg.augment > 0:
            x = jitter(x, augment_rng, cfg.augment)
        x = x[ddp.rank :: ddp.world_size]
        eps = torch.randn(
            len(whole), run.model_cfg.latent_dim, device=device, dtype=amp_dtype or torch.float32
        )
        for group in run.optimizer.param_groups:
            group["lr"] = cfg.lr_at(step, total_steps)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits, mu, logvar = net(x, y, eps[ddp.rank :: ddp.world_size])
        loss = cvae_loss(
            logits.float(),
            x,
            mu.float(),
            logvar.float(),
            cfg.beta_at(step, steps_per_epoch),
            run.model_cfg.loss,
        )
        run.optimizer.zero_grad(set_to_none=True)
        # DDP averages the ranks' gradients; weighting each rank's batch mean by its share of the global
        # batch makes that the global batch mean also when the last batch does not split evenly.
        (loss * (len(batch) * ddp.world_size / len(whole))).backward()
        run.optimizer.step()
        running += loss.detach().double() * len(batch)
        seen += len(batch)
        if (i + 1) % LOG_EVERY == 0:
            bar.set_postfix(loss=f"{running.item() / seen:.2f}")
    return running.item() / seen


def _restore(run: Run) -> list[dict[str, float]]:
    """Load weights, optimizer moments and RNG state saved after the last epoch; returns the history."""
    out_dir = run.out_dir
    config = read_config(out_dir)
    if CVAEConfig.from_dict(config["model"]) != run.model_cfg:
        raise ValueError(f"{out_dir}: --resume with a different model config than the saved one")
    history = config["training"]["history"]
    # The epoch before the hash: for a resume state copied from another run it says more.
    state_path = checkpoint_file(out_dir, STATE_FILE)
    with safe_open(state_path, "pt") as f:
        saved_epoch = int(f.get_tensor("epoch"))
    if saved_epoch != len(history):
        raise ValueError(
            f"{state_path}: saved at epoch {saved_epoch} but config.json says {len(history)}: not one save "
            "(a copied file, or a run that died mid-save in an older version); start again without --resume"
        )
    state = load_tensors(out_dir, STATE_FILE, config)
    run.model.load_state_dict(load_checkpoint(out_dir, "cvae").model.state_dict())
    _load_optimizer(run.optimizer, {k: v.to(run.device) for k, v in state.items()})
    torch.set_rng_state(state["rng.cpu"])
    return history


def save_epoch(run: Run) -> None:
    """The checkpoint after an epoch: weights, config.json (settings, history, what `auto` resolved to) and
    the resume state, in one commit."""
    save_checkpoint(
        run.out_dir,
        run.model,
        {
            "name": run.out_dir.name,
            "data": run.split.describe(),
            "seed": run.train_cfg.seed,
            "epochs": len(run.history),
            "training": {**asdict(run.train_cfg), "history": run.history},
            "runtime": run.runtime(),
        },
        # In the same commit as the weights, so --resume finds both from one epoch.
        extra={
            STATE_FILE: {
                **_optimizer_tensors(run.optimizer),
                "rng.cpu": torch.get_rng_state(),
                "epoch": torch.tensor(len(run.history)),
            }
        },
    )
