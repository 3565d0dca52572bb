"""The served networks as ONNX files, and how far ONNX Runtime's answers are from PyTorch's.

Each file takes what the service hands the PyTorch network, so an ONNX Runtime session can stand in for it:
the decoder (z, one-hot c) -> logits, pre-sigmoid; the encoder (x, one-hot c) -> mu and logvar side by side;
the classifier x -> logits and the embedding the OOD score reads (model/ood.py).

The batch dimension is dynamic (named "n") rather than fixed at the block rows: the rows are a serving
setting (CVAE_BLOCK_ROWS), not a property of the model, so one file serves any of them; a caller that needs
each row's answer independent of its batch runs the session through `in_blocks`, as the service runs PyTorch.

Exported with torch.export (`dynamo=True`, which needs onnxscript, 10 MB installed): the TorchScript exporter
(`dynamo=False`) still works in torch 2.13 but is deprecated and warns that it will be removed. The price is
export time, not accuracy: on the project's CPU the first network takes 3 s against 0.7 s (the next ones
0.9 s against a few hundredths), and both exporters' decoders came equally near PyTorch's logits (1.1e-5
on seeded batches of 1, 8 and 13 rows).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort
import torch
from torch import Tensor, nn

from model.classifier import DigitClassifier
from model.cvae import CVAE, one_hot
from model.inference import DEFAULT_BLOCK_ROWS, in_blocks, inference_form

# The batch sizes parity is measured at: one row, one block, and a batch that ends in a partial block.
PARITY_BATCH_SIZES = (1, 8, 13)
BATCH = "n"


class ClassifierOutputs(nn.Module):
    """The classifier's logits and its embedding in one pass: what the service's analyse_batch reads."""

    def __init__(self, classifier: DigitClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        embedding = self.classifier.embed(x)
        return self.classifier.head[3:](embedding), embedding


@dataclass
class ServedNetwork:
    """One network to export: the module, its inputs' and outputs' names, and how the service runs it."""

    name: str
    about: str
    module: nn.Module
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    # inputs -> outputs as the service computes them (channels-last, blockwise): the parity reference
    served: Callable[..., tuple[Tensor, ...]]


def served_networks(
    cvae: CVAE, classifier: DigitClassifier, rows: int = DEFAULT_BLOCK_ROWS
) -> list[ServedNetwork]:
    """The decoder, the encoder and the classifier, each beside a copy in the service's inference form;
    the given models are left as they are."""
    decoder = inference_form(copy.deepcopy(cvae.decoder), rows)
    encoder = inference_form(copy.deepcopy(cvae.encoder), rows)
    served_classifier = inference_form(copy.deepcopy(classifier), rows).network

    def classify(x: Tensor) -> tuple[Tensor, Tensor]:
        embedding = in_blocks(served_classifier.embed, x, rows=rows)
        return in_blocks(served_classifier.head[3:], embedding, rows=rows), embedding

    return [
        ServedNetwork(
            "decoder",
            "latents z and one-hot classes c -> Bernoulli logits of the pixels (the image is their sigmoid)",
            cvae.decoder,
            ("z", "c"),
            ("logits",),
            lambda z, c: (decoder(z, c),),
        ),
        ServedNetwork(
            "encoder",
            "images x in [0, 1] and one-hot classes c -> mu and logvar of q(z|x,c), side by side",
            cvae.encoder,
            ("x", "c"),
            ("mu_logvar",),
            lambda x, c: (encoder(x, c),),
        ),
        ServedNetwork(
            "classifier",
            "images x in [0, 1] -> class logits, and the hidden layer the OOD score measures distances in",
            ClassifierOutputs(classifier),
            ("x",),
            ("logits", "embedding"),
            classify,
        ),
    ]


def seeded_inputs(cvae: CVAE, n: int, seed: int = 0) -> dict[str, Tensor]:
    """n rows of every input the networks take: z ~ N(0, I), the classes in turn, and the decoder's images
    of them (digits, not noise, so the encoder and classifier see what they were trained on)."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn((n, cvae.cfg.latent_dim), generator=generator)
    c = one_hot(torch.arange(n) % cvae.cfg.num_classes, cvae.cfg.num_classes)
    with torch.no_grad():  # not inference_mode: x must stay usable outside it, as the exporter's example
        x = torch.sigmoid(cvae.decoder(z, c))
    return {"z": z, "c": c, "x": x}


def export_network(network: ServedNetwork, example: dict[str, Tensor], path: Path) -> None:
    """Write `network` to `path` as one self-contained ONNX file with a dynamic batch dimension."""
    inputs = tuple(example[name] for name in network.inputs)
    program = torch.onnx.export(
        network.module.eval(),
        inputs,
        input_names=list(network.inputs),
        output_names=list(network.outputs),
        dynamic_shapes={name: {0: BATCH} for name in network.inputs},
        dynamo=True,
        verbose=False,
    )
    assert program is not None  # dynamo=True always returns the program
    program.save(path, external_data=False)


def ort_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime CPU session on `threads` threads, one operator at a time (the service's torch threads:
    each batch on one thread, CVAE_TORCH_THREADS)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(session: ort.InferenceSession, inputs: dict[str, Tensor]) -> tuple[Tensor, ...]:
    """The session's outputs for the named tensors, as tensors."""
    feeds = {arg.name: inputs[arg.name].numpy() for arg in session.get_inputs()}
    return tuple(torch.from_numpy(out) for out in session.run(None, feeds))


@torch.inference_mode()
def largest_difference(
    network: ServedNetwork, session: ort.InferenceSession, batches: Sequence[dict[str, Tensor]]
) -> dict[str, float]:
    """Largest absolute difference of each output between the session and the service's PyTorch, over the
    batches."""
    largest = dict.fromkeys(network.outputs, 0.0)
    for batch in batches:
        served = network.served(*(batch[name] for name in network.inputs))
        for name, ours, theirs in zip(network.outputs, served, run_session(session, batch), strict=True):
            largest[name] = max(largest[name], (ours - theirs).abs().max().item())
    return largest


def export_served(
    cvae: CVAE,
    classifier: DigitClassifier,
    out: Path,
    batch_sizes: Sequence[int] = PARITY_BATCH_SIZES,
    seed: int = 0,
) -> dict[str, Any]:
    """Write decoder.onnx, encoder.onnx and classifier.onnx into `out` and measure each against the service's
    PyTorch on seeded batches of `batch_sizes` rows; returns what each file takes and gives and its parity."""
    out.mkdir(parents=True, exist_ok=True)
    example = seeded_inputs(cvae, DEFAULT_BLOCK_ROWS, seed)
    batches = [seeded_inputs(cvae, n, seed + 1 + i) for i, n in enumerate(batch_sizes)]
    networks: dict[str, Any] = {}
    for network in served_networks(cvae, classifier):
        path = out / f"{network.name}.onnx"
        export_network(network, example, path)
        session = ort_session(path)
        networks[network.name] = {
            "file": path.name,
            "about": network.about,
            "inputs": {arg.name: {"type": arg.type, "shape": arg.shape} for arg in session.get_inputs()},
            "outputs": {arg.name: {"type": arg.type, "shape": arg.shape} for arg in session.get_outputs()},
            "largest_abs_difference": largest_difference(network, session, batches),
        }
    return {
        "parity": {
            "against": f"PyTorch {torch.__version__} float32 as served: channels-last, blocks of "
            f"{DEFAULT_BLOCK_ROWS} rows, torch threads: {torch.get_num_threads()}",
            "runtime": f"onnxruntime {ort.__version__}, CPUExecutionProvider, one thread",
            "batch_sizes": list(batch_sizes),
            "seed": seed,
        },
        "networks": networks,
    }
