"""The supervised loop the classifier and the outlier detector share: AdamW under torch's one-cycle schedule,
each epoch's examples in the order that (seed, epoch) alone decides."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from training.data import epoch_order

# Steps between readings of the running loss for a progress bar: each `.item()` waits for the device.
LOG_EVERY = 50


def fit_one_cycle(
    model: nn.Module,
    examples: int,
    batch_loss: Callable[[Tensor], Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    desc: str,
    after_epoch: Callable[[int, float], None],
) -> nn.Module:
    """Train `model` on `examples` examples: `batch_loss(indices)` is the mean loss of those examples, and
    `after_epoch(epoch, mean loss)` reports each epoch. Returns the model in eval mode."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(examples / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        total: Tensor | float = 0.0  # summed where the loss is, read back only to be shown
        bar = tqdm(
            epoch_order(examples, seed, epoch).split(batch_size),
            desc=f"{desc} epoch {epoch + 1}/{epochs}",
            leave=False,
        )
        seen = 0
        for step, batch in enumerate(bar, 1):
            loss = batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total = total + loss.detach().double() * len(batch)
            seen += len(batch)
            if step % LOG_EVERY == 0:
                bar.set_postfix(loss=f"{float(total) / seen:.3f}")
        after_epoch(epoch, float(total) / examples)
    return model.eval()
