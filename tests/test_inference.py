"""The served form of the networks: the same answer for a row whatever batch it is computed in, and the
same answer as the plain network up to float rounding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor

from model.checkpoint import load_checkpoint
from model.cvae import one_hot
from model.inference import DEFAULT_BLOCK_ROWS, in_blocks, inference_form

ROOT = Path(__file__).resolve().parents[1]
ROWS = 40
# Batch sizes and offsets that put a row in every position of a block, alone, and in partial blocks.
BATCH_SIZES = (2, 3, 7, 16, 17, 31, ROWS)


def _shipped() -> dict[str, tuple[torch.nn.Module, Callable[[torch.nn.Module, Tensor, Tensor], Tensor]]]:
    cvae = load_checkpoint(ROOT / "checkpoints" / "cvae-mnist", "cvae").model
    classifier = load_checkpoint(ROOT / "checkpoints" / "digit-classifier", "classifier").model
    return {
        "decoder": (cvae.decoder, lambda net, x, y: net(x.flatten(1)[:, :12] - 0.5, one_hot(y, 10))),
        "encoder": (cvae.encoder, lambda net, x, y: net(x, one_hot(y, 10))),
        "classifier": (classifier, lambda net, x, y: net(x)),
    }


@pytest.fixture(scope="module")
def networks():
    return _shipped()


@pytest.fixture(scope="module")
def inputs() -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(ROWS, 1, 28, 28, generator=generator), torch.randint(
        0, 10, (ROWS,), generator=generator
    )


@pytest.mark.parametrize("name", ["decoder", "encoder", "classifier"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["fp32", "bf16"])
def test_a_row_gets_the_same_bits_in_any_batch(
    networks, inputs, name: str, threads: int, dtype: torch.dtype | None
) -> None:
    """The promise behind byte-identical PNGs under batching: every batch size, every offset in a block, in
    float32 and under bfloat16 autocast (CVAE_PRECISION=bf16)."""
    network, call = networks[name]
    served = inference_form(network)
    x, y = inputs
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    autocast = torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None)
    try:
        with torch.inference_mode(), autocast:
            alone = torch.cat([call(served, x[i : i + 1], y[i : i + 1]) for i in range(ROWS)])
            for size in BATCH_SIZES:
                batched = torch.cat(
                    [call(served, x[i : i + size], y[i : i + size]) for i in range(0, ROWS, size)]
                )
                assert torch.equal(batched, alone), f"{name}: batches of {size} differ from rows alone"
            for offset in range(1, DEFAULT_BLOCK_ROWS + 1):
                parts = [x[:offset], x[offset:]], [y[:offset], y[offset:]]
                shifted = torch.cat([call(served, xs, ys) for xs, ys in zip(*parts, strict=True)])
                assert torch.equal(shifted, alone), f"{name}: rows shifted by {offset} in their block differ"
    finally:
        torch.set_num_threads(before)


def test_the_served_form_computes_what_the_plain_network_does(inputs) -> None:
    plain = _shipped()
    served = _shipped()
    x, y = inputs
    with torch.inference_mode():
        for name, (network, call) in plain.items():
            expected = call(network.eval(), x, y)
            actual = call(inference_form(served[name][0]), x, y)
            assert torch.allclose(actual, expected, atol=1e-4, rtol=1e-4), name


def test_in_blocks_pads_and_trims() -> None:
    seen: list[int] = []

    def network(a: Tensor, b: Tensor) -> Tensor:
        seen.append(len(a))
        return a + b

    a, b = torch.arange(10.0)[:, None], torch.ones(10, 1)
    assert torch.equal(in_blocks(network, a, b, rows=4), a + 1)
    assert seen == [4, 4, 4]
