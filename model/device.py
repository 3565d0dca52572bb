"""Which device a model runs on: one visible decision, shared by training and the service."""

from __future__ import annotations

from typing import Literal, get_args

import torch

# How a training run computes: bf16 autocast, plain fp32, or `auto` (bf16 where the hardware has it).
Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)


def resolve_device(name: str) -> torch.device:
    """`auto` -> CUDA when present, else CPU; `cpu`, `cuda`, `cuda:N` are checked, so a typo fails early."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unsupported device {name!r} (expected auto, cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r} (expected auto, cpu, cuda or cuda:N)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r} requested but only {torch.cuda.device_count()} GPU(s) are visible"
            )
    return device


def use_deterministic_kernels() -> None:
    """No autotuned, possibly non-deterministic cuDNN kernels: the same seed must give byte-identical
    images, in the service and in the tools that promise its bytes (cvae-generate)."""
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX) rather than emulating it."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast to, or None for plain float32.

    `auto` picks bfloat16 where the hardware computes it natively (CUDA, or a CPU with AVX-512 BF16 or AMX),
    where it is faster (1.3x per training epoch on the project's CPU, `make bench`); elsewhere bfloat16 is
    emulated and slower, so `auto` stays in float32.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision != "auto":
        raise ValueError(f"unknown precision {precision!r} (expected one of {', '.join(PRECISIONS)})")
    if device.type == "cuda" or cpu_has_native_bf16():
        return torch.bfloat16
    return None


def serving_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the service decodes latents in, or None for plain float32: `fp32`, `bf16`, `fp16`, or
    `auto`, which takes half precision on a GPU and bfloat16 on a CPU that computes it natively
    (docs/performance.md, "Precision", measures what each costs in pixels)."""
    if precision == "fp16":
        return torch.float16
    if precision == "auto" and device.type == "cuda":
        return torch.float16
    return autocast_dtype(precision, device)
