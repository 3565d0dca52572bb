"""The shipped decoder in-process on one thread: images per second in PyTorch float32 as served
(channels-last, blockwise), PyTorch under bfloat16 autocast, and ONNX Runtime float32 (cvae-export's
decoder.onnx, run on the same blocks), at blocks of 8 and 64 rows; and how far the other two's images are
from float32 PyTorch's once the service rounds them to uint8 (model/images.py).

The runs alternate, one pass of every case a round, and the medians of the rounds are reported, to spread the
machine's noise over all of them. Writes benchmarks/results/decoder.json (about 30 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
import torch
from torch import Tensor

from benchmarks.machine import cpu_name
from model.checkpoint import load_checkpoint
from model.device import cpu_has_native_bf16
from model.images import to_uint8
from model.inference import in_blocks
from model.onnx_export import (
    ServedNetwork,
    export_network,
    ort_session,
    run_session,
    seeded_inputs,
    served_networks,
)

RESULTS = Path(__file__).parent / "results" / "decoder.json"
ROWS = (8, 64)
Decoder = Callable[[Tensor, Tensor], Tensor]


def decoders(network: ServedNetwork, session: ort.InferenceSession, rows: int) -> dict[str, Decoder]:
    """(z, c) -> float32 logits, each case's way, on blocks of `rows` rows (those `network` is served on)."""

    def bf16(z: Tensor, c: Tensor) -> Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            (logits,) = network.served(z, c)
        return logits.float()

    def onnxruntime(z: Tensor, c: Tensor) -> Tensor:
        return in_blocks(lambda *t: run_session(session, {"z": t[0], "c": t[1]})[0], z, c, rows=rows)

    return {
        "pytorch_fp32": lambda z, c: network.served(z, c)[0],
        "pytorch_bf16": bf16,
        "onnxruntime_fp32": onnxruntime,
    }


def pixels(logits: Tensor) -> Tensor:
    """The served uint8 pixels of logits, as integers."""
    return torch.from_numpy(to_uint8(torch.sigmoid(logits))).int()


def distance(logits: Tensor, reference: Tensor) -> dict[str, float]:
    """How far `logits` and their served pixels are from the reference's."""
    ours, theirs = pixels(logits), pixels(reference)
    return {
        "largest_logit_difference": (logits - reference).abs().max().item(),
        "pixels_differing_share": (ours != theirs).float().mean().item(),
        "largest_pixel_difference": int((ours - theirs).abs().max().item()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="checkpoints/cvae-mnist", help="CVAE checkpoint directory")
    parser.add_argument("--classifier", default="checkpoints/digit-classifier", help="its classifier")
    parser.add_argument("--images", type=int, default=1024, help="images decoded per timed pass")
    parser.add_argument("--rounds", type=int, default=7, help="timed passes of every case, alternating")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]

    cvae = load_checkpoint(args.checkpoint, "cvae").model
    classifier = load_checkpoint(args.classifier, "classifier").model
    networks = {rows: served_networks(cvae, classifier, rows)[0] for rows in ROWS}  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "decoder.onnx"
        export_network(networks[ROWS[0]], seeded_inputs(cvae, ROWS[0]), path)  # type: ignore[arg-type]
        session = ort_session(path, threads=1)
    cases = {rows: decoders(network, session, rows) for rows, network in networks.items()}
    inputs = seeded_inputs(cvae, args.images)  # type: ignore[arg-type]
    z, c = inputs["z"], inputs["c"]

    with torch.inference_mode():
        # The first pass of each case, untimed (lazy initialisation), gives the logits compared below.
        logits = {rows: {name: run(z, c) for name, run in runs.items()} for rows, runs in cases.items()}
        seconds: dict[int, dict[str, list[float]]] = {
            rows: {name: [] for name in runs} for rows, runs in cases.items()
        }
        for _ in range(args.rounds):
            for rows, runs in cases.items():
                for name, run in runs.items():
                    start = time.perf_counter()
                    run(z, c)
                    seconds[rows][name].append(time.perf_counter() - start)

    result = {
        "benchmark": "the shipped decoder in-process, images/s, median of interleaved rounds",
        "machine": {
            "cpu": cpu_name(),
            "native_bf16": cpu_has_native_bf16(),
            "load_average_1min_before": round(load_before, 2),
            "load_average_1min_after": round(os.getloadavg()[0], 2),
        },
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "threads": {"torch": torch.get_num_threads(), "onnxruntime_intra_op": 1},
        "cases": {
            "pytorch_fp32": "as served: channels-last, in-place ELUs, blockwise (model/inference.py)",
            "pytorch_bf16": "the same under torch.autocast('cpu', dtype=torch.bfloat16), logits cast to "
            "float32 before the sigmoid",
            "onnxruntime_fp32": "decoder.onnx as cvae-export writes it, CPUExecutionProvider, graph "
            f"optimisation {session.get_session_options().graph_optimization_level.name}, run blockwise",
        },
        "checkpoint": args.checkpoint,
        "images_per_pass": args.images,
        "rounds": args.rounds,
        "images_per_s": {
            str(rows): {name: round(args.images / statistics.median(t)) for name, t in times.items()}
            for rows, times in seconds.items()
        },
        "bf16_vs_fp32": {
            str(rows): distance(out["pytorch_bf16"], out["pytorch_fp32"]) for rows, out in logits.items()
        },
        "onnxruntime_vs_pytorch_fp32": {
            str(rows): distance(out["onnxruntime_fp32"], out["pytorch_fp32"]) for rows, out in logits.items()
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
