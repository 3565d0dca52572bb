"""Model configurations: one dataclass per model, saved beside the weights and enough to rebuild them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

Arch = Literal["mlp", "conv"]
LossKind = Literal["bce", "sse"]
ARCHS: tuple[Arch, ...] = get_args(Arch)
LOSSES: tuple[LossKind, ...] = get_args(LossKind)


@dataclass(frozen=True)
class CVAEConfig:
    """Sizes of a CVAE; `hidden_dim` is used by `mlp`, `channels` by `conv`."""

    arch: Arch = "conv"
    latent_dim: int = 12
    hidden_dim: int = 400
    channels: int = 32
    num_classes: int = 10
    image_size: int = 28
    loss: LossKind = "bce"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r} (expected one of {', '.join(ARCHS)})")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r} (expected one of {', '.join(LOSSES)})")
        if self.arch == "conv" and self.image_size % 4:
            raise ValueError(f"conv arch needs an image size divisible by 4, got {self.image_size}")
        for name in ("latent_dim", "hidden_dim", "channels", "num_classes", "image_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CVAEConfig:
        return cls(**_known_fields(cls, data))


@dataclass(frozen=True)
class ClassifierConfig:
    """Sizes of the digit classifier CNN."""

    channels: int = 32
    hidden_dim: int = 128
    num_classes: int = 10
    image_size: int = 28

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        return cls(**_known_fields(cls, data))


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return dict(data)
