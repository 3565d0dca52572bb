"""Checkpoints: `model.safetensors` (weights only, no pickle) beside `config.json` (everything else).

Each file is written to a temporary name and moved into place with os.replace, so a crash never leaves a
half-written file. config.json, written last, records the sha256 of the weights, so a crash between the two
moves, or any later damage, is caught on load. Every problem found on load raises CheckpointError with one
line that names the file and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from model.classifier import DigitClassifier
from model.config import ClassifierConfig, CVAEConfig
from model.cvae import CVAE

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"

# kind -> (config class, model class); the kind is recorded in config.json.
_KINDS: dict[str, tuple[type, type[nn.Module]]] = {
    "cvae": (CVAEConfig, CVAE),
    "classifier": (ClassifierConfig, DigitClassifier),
}


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message is one line naming the file and the problem."""


@dataclass
class Checkpoint:
    model: nn.Module
    config: dict[str, Any]
    path: Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """A temporary file beside `path`, moved over it (readable by all, as a normal file) only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    with _atomic_target(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """safetensors file written atomically; tensors are made contiguous CPU copies first."""
    with _atomic_target(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))


def save_checkpoint(directory: str | Path, model: nn.Module, metadata: dict[str, Any] | None = None) -> Path:
    """Write weights and config.json; `metadata` (data, seed, metrics, ...) is stored in config.json."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    kind = next(k for k, (_, cls) in _KINDS.items() if isinstance(model, cls))
    weights = directory / WEIGHTS_FILE
    save_tensors(weights, model.state_dict())
    config = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "model": model.cfg.to_dict(),
        **(metadata or {}),
        "torch_version": torch.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "weights_sha256": sha256_file(weights),
    }
    atomic_write_json(directory / CONFIG_FILE, config)
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    """config.json parsed and checked for the fields every checkpoint has."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (is {Path(directory)} a checkpoint directory?)")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unknown format version {version!r} (this code reads {FORMAT_VERSION})"
        )
    for field in ("kind", "model", "weights_sha256"):
        if field not in config:
            raise CheckpointError(f"{path}: missing field {field!r}")
    if config["kind"] not in _KINDS:
        raise CheckpointError(f"{path}: unknown kind {config['kind']!r} (expected one of {sorted(_KINDS)})")
    return config


def load_checkpoint(
    directory: str | Path, expected_kind: str | None = None, device: str | torch.device = "cpu"
) -> Checkpoint:
    """Rebuild the model from config.json and load its verified weights, in eval mode, on `device`."""
    directory = Path(directory)
    config = read_config(directory)
    config_path = directory / CONFIG_FILE
    kind = config["kind"]
    if expected_kind is not None and kind != expected_kind:
        raise CheckpointError(f"{config_path}: holds a {kind!r} model, expected {expected_kind!r}")
    config_cls, model_cls = _KINDS[kind]
    try:
        model = model_cls(config_cls.from_dict(config["model"]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{config_path}: bad model config ({e})") from None

    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing")
    actual = sha256_file(weights)
    if actual != config["weights_sha256"]:
        raise CheckpointError(
            f"{weights}: sha256 mismatch (config.json says {config['weights_sha256'][:12]}…, "
            f"file is {actual[:12]}…): truncated, corrupted or replaced"
        )
    try:
        state = load_file(weights)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: unreadable safetensors file ({e})") from None
    _check_state(weights, model, state)
    model.load_state_dict(state)
    return Checkpoint(model=model.to(device).eval(), config=config, path=directory)


def _check_state(weights: Path, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: tensors do not match config.json (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    for name, tensor in expected.items():
        if state[name].shape != tensor.shape:
            raise CheckpointError(
                f"{weights}: wrong shape for {name}: {tuple(state[name].shape)}, "
                f"config.json implies {tuple(tensor.shape)}"
            )
