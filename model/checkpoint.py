"""Checkpoints: `model.safetensors` (weights only, no pickle) beside `config.json` (everything else).

A save may add further safetensors files (the trainer's resume state), and one epoch's files must change
together: a crash that left new weights beside an old config.json, or a new resume state beside old weights,
would leave nothing that loads or resumes. So every save is one commit through a journal, the staging
directory `.incoming/`:

1. Finish what an interrupted save left: a staging set holding config.json is complete and is moved into
   place (step 3); one without it is deleted.
2. Write every file of the new set into `.incoming/` and fsync it, config.json last through a temporary
   name and os.replace: once `.incoming/config.json` exists the new set is complete and committed.
3. Move each file into the checkpoint directory with os.replace, config.json last, then remove `.incoming/`.

Readers never write (a checkpoint in a read-only image still loads): `checkpoint_file` takes a file from
`.incoming/` while `.incoming/config.json` exists and the file is still there, otherwise from the directory.
Since files leave `.incoming/` one at a time and config.json last, that is always one whole set, the old or
the new, wherever a process was killed. config.json records the sha256 of every other file, so later damage
is caught on load too; every problem found on load raises CheckpointError with one line that names the file
and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
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

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
STAGING_DIR = ".incoming"

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


def _fsync(path: Path) -> None:
    """Flush a file's data, or a directory's entries (the renames in it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def checkpoint_file(directory: str | Path, name: str) -> Path:
    """Where the checkpoint's file `name` is: in `.incoming/` while a committed save is still moving its files
    out, otherwise in the directory. Reads only, so a read-only checkpoint directory loads too.
    """
    directory = Path(directory)
    staged = directory / STAGING_DIR / name
    if (directory / STAGING_DIR / CONFIG_FILE).is_file() and staged.is_file():
        return staged
    return directory / name


def _publish(directory: Path) -> None:
    """Move a committed staging set into place, config.json last; after a kill part-way, the next save
    moves what is left.
    """
    staging = directory / STAGING_DIR
    names = sorted(p.name for p in staging.iterdir() if p.name != CONFIG_FILE)
    for name in [*names, CONFIG_FILE]:
        os.replace(staging / name, directory / name)
    _fsync(directory)
    shutil.rmtree(staging)


def _commit(directory: Path, write: Callable[[Path], dict[str, Any]]) -> None:
    """Stage the files `write` puts into the staging directory and the config.json it returns, then publish.

    A staging set left by a killed save is published first if complete, and deleted if not.
    """
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / STAGING_DIR
    if (staging / CONFIG_FILE).is_file():
        _publish(directory)
    elif staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        config = write(staging)
        for path in sorted(staging.iterdir()):
            path.chmod(0o644)
            _fsync(path)
        atomic_write_bytes(staging / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())
        _fsync(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _publish(directory)


def save_checkpoint(
    directory: str | Path,
    model: nn.Module,
    metadata: dict[str, Any] | None = None,
    extra: dict[str, dict[str, torch.Tensor]] | None = None,
) -> Path:
    """Write weights, the safetensors files of `extra` (name -> tensors) and config.json as one commit.

    `metadata` (data, seed, metrics, ...) is stored in config.json, with the sha256 of every file.
    """
    directory = Path(directory)
    kind = next(k for k, (_, cls) in _KINDS.items() if isinstance(model, cls))
    extra = extra or {}
    for name in extra:
        if name in (WEIGHTS_FILE, CONFIG_FILE) or name.startswith(".") or Path(name).name != name:
            raise ValueError(f"{name!r} cannot be a further checkpoint file")

    def write(staging: Path) -> dict[str, Any]:
        hashes = _write_tensor_files(staging, {WEIGHTS_FILE: model.state_dict(), **extra})
        return {
            "format_version": FORMAT_VERSION,
            "kind": kind,
            "model": model.cfg.to_dict(),
            **(metadata or {}),
            "torch_version": torch.__version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "weights_sha256": hashes.pop(WEIGHTS_FILE),
            "files": hashes,
        }

    _commit(directory, write)
    return directory


def _write_tensor_files(staging: Path, files: dict[str, dict[str, torch.Tensor]]) -> dict[str, str]:
    """Each name -> tensors as a safetensors file in `staging`; their sha256 by name."""
    hashes = {}
    for name, tensors in files.items():
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(staging / name))
        hashes[name] = sha256_file(staging / name)
    return hashes


def write_config(
    directory: str | Path, config: dict[str, Any], extra: dict[str, dict[str, torch.Tensor]] | None = None
) -> None:
    """Replace the config.json of a saved checkpoint (the evaluator adds its metrics) as one commit, with
    further safetensors files (name -> tensors) added or replaced beside the weights and recorded in it."""

    def write(staging: Path) -> dict[str, Any]:
        hashes = _write_tensor_files(staging, extra or {})
        return {**config, "files": {**config.get("files", {}), **hashes}}

    _commit(Path(directory), write)


def read_config(directory: str | Path) -> dict[str, Any]:
    """config.json parsed and checked for the fields every checkpoint has."""
    path = checkpoint_file(directory, CONFIG_FILE)
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


def _load_verified(path: Path, expected_sha256: str) -> dict[str, torch.Tensor]:
    """A safetensors file of the checkpoint, refused unless its sha256 is the one config.json recorded."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise CheckpointError(
            f"{path}: sha256 mismatch (config.json says {expected_sha256[:12]}…, "
            f"file is {actual[:12]}…): truncated, corrupted or replaced"
        )
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable safetensors file ({e})") from None


def load_tensors(directory: str | Path, name: str, config: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A further file of the checkpoint whose `config` is given (from read_config), verified against it."""
    path = checkpoint_file(directory, name)
    expected = config.get("files", {}).get(name)
    if expected is None:
        raise CheckpointError(f"{path}: not recorded in config.json, so it is not part of this checkpoint")
    return _load_verified(path, expected)


def load_checkpoint(
    directory: str | Path, expected_kind: str | None = None, device: str | torch.device = "cpu"
) -> Checkpoint:
    """Rebuild the model from config.json and load its verified weights, in eval mode, on `device`."""
    directory = Path(directory)
    config = read_config(directory)
    config_path = checkpoint_file(directory, CONFIG_FILE)
    kind = config["kind"]
    if expected_kind is not None and kind != expected_kind:
        raise CheckpointError(f"{config_path}: holds a {kind!r} model, expected {expected_kind!r}")
    config_cls, model_cls = _KINDS[kind]
    try:
        model = model_cls(config_cls.from_dict(config["model"]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{config_path}: bad model config ({e})") from None

    weights = checkpoint_file(directory, WEIGHTS_FILE)
    state = _load_verified(weights, config["weights_sha256"])
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


def model_name(config: dict[str, Any], directory: str | Path) -> str:
    """A checkpoint's name: the one its config.json records, else its directory's."""
    return config.get("name") or Path(directory).name


def class_names(config: dict[str, Any]) -> list[str]:
    """The names of a checkpoint's classes, from its training data; checkpoints written before the names
    were recorded hold the digits."""
    names = config.get("data", {}).get("class_names")
    return list(names) if names else [str(label) for label in range(config["model"]["num_classes"])]


def check_classifier_fits(cvae: Checkpoint, classifier: Checkpoint) -> None:
    """A classifier can judge a CVAE's images only if it reads the CVAE's classes; ValueError otherwise."""
    classes = (cvae.model.cfg.num_classes, classifier.model.cfg.num_classes)
    if classes[0] != classes[1]:
        raise ValueError(f"{classifier.path}: reads {classes[1]} classes, but {cvae.path} has {classes[0]}")


def classifier_record(
    cvae: Checkpoint, classifier: Checkpoint, key: str, what: str, off: str
) -> dict[str, Any] | None:
    """The record `key` of a CVAE's config.json that a tool made from a classifier's verdicts (its sha256
    under classifier_sha256), if that was this classifier; with another, a warning that the CVAE's `what` is
    not used and `off` says what follows (None without the record too)."""
    record = cvae.config.get(key)
    if not record:
        return None
    if record.get("classifier_sha256") != classifier.config["weights_sha256"]:
        logger.warning(
            "%s: its %s was made with another classifier than %s: %s", cvae.path, what, classifier.path, off
        )
        return None
    return record
