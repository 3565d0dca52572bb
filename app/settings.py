"""The service's settings: one BaseSettings class, read from the environment with the prefix CVAE_."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.cpus import usable_cpus
from model.limits import DEFAULT_BLOCK_ROWS, DEFAULT_MAX_PIXELS

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class ModelPaths(BaseModel):
    """One served model: its CVAE checkpoint and the classifier that reads its classes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checkpoint: Path
    classifier: Path


SHIPPED_EXTRA_MODELS = [
    ModelPaths(checkpoint=Path("checkpoints/cvae-fashion"), classifier=Path("checkpoints/fashion-classifier"))
]


class Settings(BaseSettings):
    """Every knob of the service; docs/api.md (section "Settings") lists each with its environment name."""

    model_config = SettingsConfigDict(env_prefix="CVAE_", frozen=True)

    checkpoint: Path = Field(
        Path("checkpoints/cvae-mnist"), description="the default model's CVAE checkpoint directory"
    )
    classifier: Path = Field(
        Path("checkpoints/digit-classifier"),
        description="the default model's classifier checkpoint directory",
    )
    extra_models: list[ModelPaths] = Field(
        SHIPPED_EXTRA_MODELS,
        description='more models served beside the default, as JSON [{"checkpoint": ..., "classifier": ...}]',
    )
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu, cuda or cuda:N")
    max_upload_bytes: int = Field(
        10 * 1024 * 1024, ge=1, description="largest upload (multipart body), in bytes"
    )
    max_json_bytes: int = Field(1024 * 1024, ge=1, description="largest body that is not an upload, in bytes")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, description="largest declared image size, in pixels")
    max_n: int = Field(256, ge=1, description="most images per request")
    # A min_confidence request's cost is bounded by its draws, not its n: 4096 rows decoded and classified
    # take about 3 s of one model thread on the project's CPU (a plain request of 256 images: 0.13 s), and
    # cover n=16 at the shipped model's worst acceptance at 0.99 (4%).
    max_draws: int = Field(
        4096, ge=1, description="most latents drawn and judged for one request with min_confidence"
    )
    # GET /v1/dataset holds one chunk of images at a time, or, with min_confidence (found before the answer
    # starts), all of them: num_classes x this x 784 bytes, 7.8 MB for the digits at 1000. The work is this x
    # num_classes images (10,000 take about 6 s on the project's CPU; with min_confidence 0.9, 13 s).
    max_dataset_per_class: int = Field(
        1000, ge=1, description="most images of each class that one GET /v1/dataset may ask for"
    )
    # Each model's own threshold is the quantile of its held-out scores (cvae-calibrate) at this rate.
    ood_flag_rate: float = Field(
        0.02,
        ge=0,
        lt=1,
        description="share of real held-out data that is_digit=false may flag: sets each model's threshold",
    )
    # Slow clients: a connection that has not sent a request's headers, or its body, in time is answered
    # 408 and closed, so that many slow connections cannot hold the server's sockets and memory for long.
    header_timeout_s: float = Field(
        10.0, gt=0, le=600, description="longest wait for a request's headers, in seconds"
    )
    body_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="longest wait for a request's whole body, in seconds"
    )
    # cvae-serve's worker processes, each with its own event loop and copy of the models: one event loop
    # tops out at one core (docs/performance.md).
    workers: int = Field(
        0, ge=0, le=256, description="worker processes of cvae-serve; 0: one per CPU the process may use"
    )
    # Batches run in model threads, each with torch's intra-op threads, beside the event loop.
    model_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="threads per worker that run batches, one batch each at a time; 0: the usable CPUs "
        "shared out between the workers, at least one each",
    )
    torch_threads: int = Field(1, ge=0, description="torch intra-op threads per process; 0: torch's default")
    batching: bool = Field(True, description="gather concurrent requests' work into one forward pass")
    batch_max_rows: int = Field(256, ge=1, description="most images (rows) in one batched forward pass")
    batch_window_ms: float = Field(
        2.0, ge=0, le=1000, description="longest wait for a batch to fill once requests have shared batches"
    )
    # Only the decoder of generated images (sample, sample.png, decode, interpolate, transfer, dataset, and
    # min_confidence's judging): uploads stay in float32, in which is_digit's threshold was calibrated.
    precision: Literal["fp32", "bf16", "fp16", "auto"] = Field(
        "fp32",
        description="what the decoder computes generated images in: fp32, bf16, fp16, or auto (half on a "
        "GPU, bf16 on a CPU that computes it natively, else fp32)",
    )
    block_rows: int = Field(
        DEFAULT_BLOCK_ROWS, ge=1, le=4096, description="rows per network call, the same for every batch"
    )
    log_level: LogLevel = "info"
    api_key: SecretStr | None = Field(None, description="when set, /v1/* needs 'Authorization: Bearer <key>'")
    # Off unless origins are named: a page on another site may not call the API from its visitors' browsers.
    cors_origins: list[str] = Field(
        [], description="origins whose pages may call the API from a browser, e.g. https://example.org"
    )

    def workers_to_start(self) -> int:
        """cvae-serve's worker processes: the setting, else one per CPU the process may use (app/cpus.py)."""
        return self.workers or usable_cpus()

    def cpus_per_worker(self) -> int:
        """The CPUs each worker process may keep busy: the usable CPUs (app/cpus.py) shared out between
        the workers (one process when workers is 0: an app not started by cvae-serve)."""
        return max(1, usable_cpus() // max(1, self.workers))

    def served_models(self) -> list[ModelPaths]:
        """Every model to serve, the default first."""
        return [ModelPaths(checkpoint=self.checkpoint, classifier=self.classifier), *self.extra_models]

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """CVAE_API_KEY= (empty) turns the key off rather than requiring an empty bearer token."""
        return None if value == "" else value
