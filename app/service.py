"""The loaded models and every inference the API offers: bytes and numbers in, tensors out, no HTTP.

One ModelService is built at start-up and shared by all requests; its methods are called from worker
threads (never on the event loop) and each runs under torch.inference_mode(), which is thread-local.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from app.settings import Settings
from model.bounds import elbo_by_label
from model.checkpoint import Checkpoint, load_checkpoint
from model.classifier import DigitClassifier
from model.cvae import CVAE
from model.device import resolve_device
from model.loss import LossTerms, loss_terms
from model.preprocess import preprocess_upload

logger = logging.getLogger("cvae.service")

# z-samples per label for the ELBO estimate returned beside the classifier's decision.
ELBO_SAMPLES = 5
# The ELBO's z-draws use a fixed seed, so the same upload always gets the same answer.
ELBO_SEED = 0
DigitSource = Literal["given", "inferred"]


@dataclass(frozen=True)
class UploadAnalysis:
    """An upload after preprocessing, its digit (given or decided by the classifier) and q(z|x,y)."""

    x: Tensor
    digit: int
    digit_source: DigitSource
    probabilities: list[float]
    elbo_probabilities: list[float] | None
    mu: Tensor
    logvar: Tensor


class ModelService:
    """The CVAE and the digit classifier on one device, with the operations the routes need."""

    def __init__(
        self, cvae: Checkpoint, classifier: Checkpoint, device: torch.device, max_pixels: int
    ) -> None:
        self.cvae_checkpoint = cvae
        self.classifier_checkpoint = classifier
        self.cvae: CVAE = cvae.model  # type: ignore[assignment]
        self.classifier: DigitClassifier = classifier.model  # type: ignore[assignment]
        self.device = device
        self.max_pixels = max_pixels

    @classmethod
    def load(cls, settings: Settings) -> ModelService:
        """Both checkpoints, verified and on the configured device; raises CheckpointError or ValueError."""
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        device = resolve_device(settings.device)
        # The same seed must give byte-identical images: no autotuned, possibly non-deterministic kernels.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        cvae = load_checkpoint(settings.checkpoint, "cvae", device)
        classifier = load_checkpoint(settings.classifier, "classifier", device)
        logger.info("loaded %s and %s on %s", cvae.path, classifier.path, device)
        return cls(cvae, classifier, device, settings.max_pixels)

    @property
    def latent_dim(self) -> int:
        return self.cvae.cfg.latent_dim

    def describe(self) -> dict[str, Any]:
        """What /v1/model reports: the CVAE's configuration and recorded metrics, and the classifier's."""
        config = self.cvae_checkpoint.config
        classifier = self.classifier_checkpoint.config
        return {
            **{key: config["model"][key] for key in ("latent_dim", "num_classes", "image_size", "loss")},
            "name": config.get("name", self.cvae_checkpoint.path.name),
            "architecture": config["model"]["arch"],
            "device": str(self.device),
            "metrics": config.get("metrics", {}),
            "classifier": {
                "name": classifier.get("name", self.classifier_checkpoint.path.name),
                "metrics": classifier.get("metrics", {}),
            },
        }

    @torch.inference_mode()
    def warm_up(self) -> None:
        """One pass through every network, so the first request does not pay for lazy initialisation."""
        images = self.decode(0, self.seeded_latents(0, 1, 1.0))
        self.classifier(images)
        elbo_by_label(self.cvae, images, 1, self._elbo_generator())

    def sample(self, digit: int, n: int, seed: int, temperature: float) -> tuple[Tensor, Tensor]:
        """n new images of `digit` and their latents; the same seed gives the same images."""
        z = self.seeded_latents(seed, n, temperature)
        return self.decode(digit, z), z

    def seeded_latents(self, seed: int, n: int, temperature: float) -> Tensor:
        """z ~ N(0, temperature^2 I), the same for a seed on every device (drawn on the CPU)."""
        return self.cvae.sample_latents(n, temperature, torch.Generator().manual_seed(seed))

    @torch.inference_mode()
    def decode(self, digit: int, z: Tensor) -> Tensor:
        """Images in [0, 1] of `digit` for each row of z."""
        z = z.to(self.device, torch.float32)
        labels = torch.full((len(z),), digit, dtype=torch.long, device=self.device)
        return self.cvae.images(z, labels)

    def interpolate(self, digit: int, start: Tensor, end: Tensor, steps: int) -> tuple[Tensor, Tensor]:
        """Images along the spherical path from start to end, and the latents of each step."""
        z = slerp(start.float(), end.float(), torch.linspace(0.0, 1.0, steps))
        return self.decode(digit, z), z

    @torch.inference_mode()
    def analyse(self, data: bytes, digit: int | None) -> UploadAnalysis:
        """Preprocess an upload, decide its digit unless given, and encode it; raises UploadError."""
        x = preprocess_upload(data, self.max_pixels).to(self.device)
        probabilities = torch.softmax(self.classifier(x), dim=1)[0]
        elbo_probabilities = None
        source: DigitSource = "given"
        if digit is None:
            digit, source = int(probabilities.argmax()), "inferred"
            elbo = elbo_by_label(self.cvae, x, ELBO_SAMPLES, self._elbo_generator())
            elbo_probabilities = torch.softmax(elbo, dim=1)[0].tolist()
        mu, logvar = self.cvae.encode(x, torch.tensor([digit], device=self.device))
        return UploadAnalysis(x, digit, source, probabilities.tolist(), elbo_probabilities, mu, logvar)

    @torch.inference_mode()
    def reconstruct(self, data: bytes, digit: int | None) -> tuple[UploadAnalysis, Tensor, LossTerms]:
        """The analysis, the reconstruction decoded from the posterior mean, and the loss terms at it."""
        analysis = self.analyse(data, digit)
        labels = torch.tensor([analysis.digit], device=self.device)
        logits = self.cvae.decode(analysis.mu, labels)
        terms = loss_terms(logits, analysis.x, analysis.mu, analysis.logvar, self.cvae.cfg.loss)
        return analysis, torch.sigmoid(logits), terms

    @torch.inference_mode()
    def transfer(self, data: bytes, digit: int | None) -> tuple[UploadAnalysis, Tensor]:
        """The upload's style (its posterior mean) decoded as each digit 0..9."""
        analysis = self.analyse(data, digit)
        classes = self.cvae.cfg.num_classes
        labels = torch.arange(classes, device=self.device)
        return analysis, self.cvae.images(analysis.mu.expand(classes, -1), labels)

    def _elbo_generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(ELBO_SEED)


def slerp(start: Tensor, end: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (White 2016): under a Gaussian prior the straight line between two typical
    latents passes through atypically short vectors, the great circle keeps their norm."""
    omega = torch.arccos(torch.clamp(torch.nn.functional.cosine_similarity(start, end, dim=0), -1.0, 1.0))
    t = t[:, None]
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:  # (anti)parallel: no unique great circle
        return (1 - t) * start + t * end
    return (torch.sin((1 - t) * omega) * start + torch.sin(t * omega) * end) / torch.sin(omega)
