"""The loaded models and every inference the API offers, as operations on batches: no HTTP, no asyncio.

One ModelService is built at start-up and its batch operations run in the model threads (app/batched.py),
on the concatenated work of concurrent requests. Every network runs blockwise (model/inference.py), so an
item's answer is the same bytes whatever else shared its batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from app.encoding import png_base64
from app.settings import ModelPaths, Settings
from model.bounds import elbo_by_label_with_noise, fixed_noise
from model.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_classifier_fits,
    class_names,
    classifier_record,
    load_checkpoint,
    model_name,
)
from model.cvae import CVAE
from model.device import resolve_device, serving_dtype, use_deterministic_kernels
from model.images import to_uint8
from model.inference import cvae_inference_form, in_blocks, inference_form
from model.legibility import stored_foresight
from model.legible import Judged, LatentStream, judge
from model.loss import loss_terms
from model.ood import SCORE_NEEDS_ELBO, STATS_FILE, Calibration, Evidence, stored_calibration

logger = logging.getLogger("cvae.service")

DigitSource = Literal["given", "inferred"]
# Beside a CVAE checkpoint's config.json: its model card's words (intended use, known limits).
CARD_FILE = "card.json"


@dataclass(frozen=True)
class DecodeJob:
    """Rows of (label, z) to decode; `encode` turns the job's uint8 tiles (n, H, W) into its answer."""

    labels: Tensor
    z: Tensor
    encode: Callable[[np.ndarray], Any]


@dataclass(frozen=True)
class JudgeJob:
    """Rows of (label, z) to decode and to have the classifier read: how sure it is of each row's label."""

    labels: Tensor
    z: Tensor


@dataclass(frozen=True)
class AnalysisJob:
    """A preprocessed upload (1, 1, 28, 28) and its digit, when the client gave one."""

    x: Tensor
    digit: int | None


@dataclass(frozen=True)
class Classified:
    """Images read by the classifier: its probabilities (n, K) and their ood_score (n,; None when the model
    is uncalibrated)."""

    probabilities: Tensor
    ood_scores: Tensor | None


@dataclass(frozen=True)
class UploadAnalysis:
    """An upload's digit (given or decided by the classifier), q(z|x,y), its reconstruction from the mean."""

    digit: int
    digit_source: DigitSource
    probabilities: list[float]
    elbo_probabilities: list[float] | None
    mu: list[float]
    logvar: list[float]
    input_png: str
    reconstruction_png: str
    rec: float
    kld: float
    ood_score: float | None
    is_digit: bool | None
    notes: list[str] = field(default_factory=list)


class ModelService:
    """One served model, a CVAE and the classifier of its classes on one device, with the batch operations
    the routes need."""

    def __init__(
        self,
        cvae: Checkpoint,
        classifier: Checkpoint,
        device: torch.device,
        block_rows: int,
        ood_flag_rate: float = 0.02,
        precision: str = "fp32",
    ) -> None:
        self.cvae_checkpoint = cvae
        self.precision = precision
        self._dtype = serving_dtype(precision, device)
        self.classifier_checkpoint = classifier
        self.device = device
        self.cvae: CVAE = cvae_inference_form(cvae.model, block_rows)  # type: ignore[arg-type]
        self.classifier = inference_form(classifier.model, block_rows)
        self.elbo_noise = fixed_noise(self.latent_dim).to(device)
        self.calibration = load_calibration(cvae, classifier)
        self.detector = (
            inference_form(self.calibration.detector.to(device), block_rows) if self.calibration else None
        )
        self.ood_flag_rate = ood_flag_rate
        # How numbers choose each digit's step (model/numbers.py); None without a legibility network.
        self.foresee = stored_foresight(cvae, classifier)
        self.ood_threshold = self.calibration.threshold(ood_flag_rate) if self.calibration else None
        self.card = read_card(cvae.path)

    @classmethod
    def load(
        cls,
        paths: ModelPaths,
        device: torch.device,
        block_rows: int,
        ood_flag_rate: float = 0.02,
        precision: str = "fp32",
    ) -> ModelService:
        """Both checkpoints of one model, verified, on `device`; raises CheckpointError or ValueError."""
        cvae = load_checkpoint(paths.checkpoint, "cvae", device)
        classifier = load_checkpoint(paths.classifier, "classifier", device)
        check_classifier_fits(cvae, classifier)
        logger.info("loaded %s and %s on %s", cvae.path, classifier.path, device)
        return cls(cvae, classifier, device, block_rows, ood_flag_rate, precision)

    # Cached: every request reads them, and they never change once loaded.
    @cached_property
    def name(self) -> str:
        return model_name(self.cvae_checkpoint.config, self.cvae_checkpoint.path)

    @property
    def latent_dim(self) -> int:
        return self.cvae.cfg.latent_dim

    @cached_property
    def class_names(self) -> list[str]:
        return class_names(self.cvae_checkpoint.config)

    def describe(self) -> dict[str, Any]:
        """What /v1/model reports, the model card: the CVAE's configuration, training data and recorded
        metrics, the classifier's, the OOD calibration in force, and the known limits in words."""
        config = self.cvae_checkpoint.config
        classifier = self.classifier_checkpoint.config
        return {
            "data": config.get("data"),
            "ood": self._ood_card(),
            "limits": self.card.get("limits", []),
            "intended_use": self.card.get("intended_use"),
            **{key: config["model"][key] for key in ("latent_dim", "num_classes", "image_size", "loss")},
            "name": self.name,
            "class_names": self.class_names,
            "architecture": config["model"]["arch"],
            "device": str(self.device),
            "precision": self.precision,
            "metrics": config.get("metrics", {}),
            "classifier": {
                "name": classifier.get("name", self.classifier_checkpoint.path.name),
                "metrics": classifier.get("metrics", {}),
            },
        }

    def _ood_card(self) -> dict[str, Any] | None:
        if self.calibration is None:
            return None
        recorded = self.cvae_checkpoint.config["ood"]
        return {
            "threshold": self.ood_threshold,
            "flag_rate": self.ood_flag_rate,
            "features": list(self.calibration.scales),
            **{
                key: recorded.get(key)
                for key in ("data", "calibration_images", "check_images", "check_flagged")
            },
        }

    def warm_up(self) -> None:
        """One pass through every network, so the first request does not pay for lazy initialisation."""
        (tiles,) = self.decode_batch(
            [DecodeJob(torch.zeros(1, dtype=torch.long), self.seeded_latents(0, 1, 1.0), np.copy)]
        )
        x = torch.from_numpy(tiles).float().div(255)[:, None]
        self.analyse_batch([AnalysisJob(x, None), AnalysisJob(x, 0)])

    def seeded_latents(self, seed: int, n: int, temperature: float) -> Tensor:
        """z ~ N(0, temperature^2 I), the same for a seed on every device and in every batch; kept on the
        CPU, where requests' latents are joined into batches and written into the JSON answers. The first n
        rows of the seed's stream, which min_confidence draws on (model/legible.py)."""
        return LatentStream(self.cvae, seed, n, temperature).take(n)

    def _generating(self) -> torch.autocast:
        """The precision generated images are decoded in (CVAE_PRECISION)."""
        dtype = self._dtype or torch.float32
        return torch.autocast(self.device.type, dtype=dtype, enabled=self._dtype is not None)

    @torch.inference_mode()
    def decode_batch(self, jobs: Sequence[DecodeJob]) -> list[Any]:
        """Each job's images decoded in one forward pass for all of them, and encoded by the job."""
        labels = torch.cat([job.labels for job in jobs]).to(self.device)
        z = torch.cat([job.z for job in jobs]).to(self.device, torch.float32)
        with self._generating():
            tiles = to_uint8(self.cvae.images(z, labels).float())
        ends = np.cumsum([len(job.z) for job in jobs])[:-1]
        return [job.encode(part) for job, part in zip(jobs, np.split(tiles, ends), strict=True)]

    @torch.inference_mode()
    def judge_batch(self, jobs: Sequence[JudgeJob]) -> list[Judged]:
        """Each job's images decoded and read by the classifier, in one pass of each network for all."""
        labels = torch.cat([job.labels for job in jobs]).to(self.device)
        z = torch.cat([job.z for job in jobs]).to(self.device, torch.float32)
        with self._generating():
            judged = judge(self.cvae, self.classifier, z, labels)
        return judged.split([len(job.z) for job in jobs])

    @torch.inference_mode()
    def classify_batch(self, jobs: Sequence[Tensor]) -> list[Classified]:
        """Each job's images (n, 1, 28, 28) read by the classifier and scored as uploads are, in one pass
        for all: probabilities (n, K) and ood_score (n,; None uncalibrated) on the CPU."""
        x = torch.cat(list(jobs)).to(self.device)
        logits, embedding = self._classified(x)
        elbo = elbo_by_label_with_noise(self.cvae, x, self.elbo_noise) if self._scored_with_elbo else None
        scores = self._scores(x, logits, embedding, elbo)
        sizes = [len(job) for job in jobs]
        probabilities = torch.softmax(logits, dim=1).cpu().split(sizes)
        if scores is None:
            return [Classified(p, None) for p in probabilities]
        return [Classified(p, s) for p, s in zip(probabilities, scores.cpu().split(sizes), strict=True)]

    def _classified(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The classifier's logits and hidden layer of images x, blockwise."""
        network, rows = self.classifier.network, self.classifier.rows
        embedding = in_blocks(network.embed, x, rows=rows)
        return in_blocks(network.head[3:], embedding, rows=rows), embedding

    @torch.inference_mode()
    def analyse_batch(self, jobs: Sequence[AnalysisJob]) -> list[UploadAnalysis]:
        """Each upload's digit (the classifier decides unless given), q(z|x,y) and reconstruction, all uploads
        in one pass of each network; the ELBO under every label for those whose digit was inferred (and for
        all, when the OOD score reads a feature that needs it: NEEDS_ELBO)."""
        x = torch.cat([job.x for job in jobs]).to(self.device)
        logits, embedding = self._classified(x)
        probabilities = torch.softmax(logits, dim=1)
        decided = probabilities.argmax(dim=1).tolist()
        digits = [decided[i] if job.digit is None else job.digit for i, job in enumerate(jobs)]
        inferred = [i for i, job in enumerate(jobs) if job.digit is None]
        elbo_for_all = self._scored_with_elbo
        with_elbo = list(range(len(jobs))) if elbo_for_all else inferred
        elbo = elbo_by_label_with_noise(self.cvae, x[with_elbo], self.elbo_noise) if with_elbo else None
        elbo_probabilities: dict[int, list[float]] = {}
        if elbo is not None:
            softmax = torch.softmax(elbo, dim=1).tolist()
            elbo_probabilities = {i: softmax[row] for row, i in enumerate(with_elbo) if jobs[i].digit is None}
        ood_scores, is_digit = self._ood(x, logits, embedding, elbo if elbo_for_all else None)
        labels = torch.tensor(digits, device=self.device)
        mu, logvar = self.cvae.encode(x, labels)
        logits = self.cvae.decode(mu, labels)
        terms = loss_terms(logits, x, mu, logvar, self.cvae.cfg.loss)
        inputs, reconstructions = to_uint8(x), to_uint8(torch.sigmoid(logits))
        columns = (probabilities, mu, logvar, terms.rec, terms.kld)
        rows = zip(*(column.tolist() for column in columns), strict=True)
        return [
            UploadAnalysis(
                digit=digits[i],
                digit_source="given" if job.digit is not None else "inferred",
                probabilities=p,
                elbo_probabilities=elbo_probabilities.get(i),
                mu=m,
                logvar=v,
                input_png=png_base64(inputs[i]),
                reconstruction_png=png_base64(reconstructions[i]),
                rec=rec,
                kld=kld,
                ood_score=ood_scores[i],
                is_digit=is_digit[i],
            )
            for i, (job, (p, m, v, rec, kld)) in enumerate(zip(jobs, rows, strict=True))
        ]

    @property
    def _scored_with_elbo(self) -> bool:
        """Whether this model's ood_score needs the ELBO under every label (NEEDS_ELBO): not uncalibrated."""
        return self.calibration is not None and SCORE_NEEDS_ELBO

    def _scores(self, x: Tensor, logits: Tensor, embedding: Tensor, elbo: Tensor | None) -> Tensor | None:
        """Each upload's ood_score (N,); None when uncalibrated. Only the features the score reads are
        computed."""
        if self.calibration is None or self.detector is None:
            return None
        return self.calibration.score_of(self.cvae, Evidence(x, logits, embedding, elbo), self.detector)

    def _ood(
        self, x: Tensor, logits: Tensor, embedding: Tensor, elbo: Tensor | None
    ) -> tuple[list[float | None], list[bool | None]]:
        """Each upload's ood_score and whether it is like this model's data; None when uncalibrated."""
        scores = self._scores(x, logits, embedding, elbo)
        if scores is None or self.ood_threshold is None:
            return [None] * len(x), [None] * len(x)
        return [round(s, 4) for s in scores.tolist()], (scores <= self.ood_threshold).tolist()


def load_calibration(cvae: Checkpoint, classifier: Checkpoint) -> Calibration | None:
    """The CVAE's OOD calibration (cvae-calibrate), if it has one made with this classifier; CheckpointError
    for one that this code cannot use (an older cvae-calibrate wrote it)."""
    off = "is_digit is off until cvae-calibrate runs again"
    if classifier_record(cvae, classifier, "ood", "OOD calibration", off) is None:
        return None
    try:
        return stored_calibration(cvae)
    except ValueError as e:
        raise CheckpointError(f"{cvae.path / STATS_FILE}: {e}") from None


def read_card(directory: Path) -> dict[str, Any]:
    """The checkpoint's optional card.json: {"intended_use": "...", "limits": ["...", ...]} in plain words."""
    path = directory / CARD_FILE
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    limits = card.get("limits", []) if isinstance(card, dict) else None
    if not isinstance(limits, list) or not all(isinstance(line, str) for line in limits):
        raise ValueError(f'{path}: expected {{"intended_use": text, "limits": [text, ...]}}')
    return card


def load_services(settings: Settings) -> list[ModelService]:
    """Every model the settings name, the default first, on the configured device; names must differ."""
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    device = resolve_device(settings.device)
    use_deterministic_kernels()
    services = [
        ModelService.load(paths, device, settings.block_rows, settings.ood_flag_rate, settings.precision)
        for paths in settings.served_models()
    ]
    names = [service.name for service in services]
    if len(set(names)) < len(names):
        raise ValueError(f"two served models share a name: {names} (the name in each config.json)")
    return services
