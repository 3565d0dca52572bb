"""How unlike its model's training data an upload is: the service's `ood_score` and `is_digit`.

Nothing here is trained on non-digits. Each feature is something the models already know, larger for
stranger inputs, measured under the label the classifier reads (so the verdict does not depend on a label
the user gave):
- `reconstruction`: the CVAE's reconstruction error (BCE, nats) from the encoder's mean: the decoder redraws
  what looks like its training data, not a letter or a photo;
- `latent_norm`: |mu| of q(z|x, label): strange inputs are pushed to the far edges of the prior;
- `mahalanobis`: the squared Mahalanobis distance of the classifier's hidden layer to the nearest class
  (Lee et al. 2018), class means and shared covariance fitted on the training split;
- `elbo_gap`: how much better the CVAE's ELBO under its own best label is than under the classifier's:
  the two agree on real data and disagree on much else;
- `grey_fraction`: the share of the preprocessed ink that is neither paper nor full ink: MNIST's strokes
  are solid, photographs, noise and cloth textures are grey all over.
Each is standardised by its median and upper quartile on held-out data of the model's own dataset, and the
score is the largest: an upload is flagged when any one view finds it far outside real data. The threshold
is the quantile of the same held-out scores that flags the chosen share of real data (CVAE_OOD_FLAG_RATE).
Measured per kind of input in the README ("Answers you can trust"); each feature was kept because it alone
catches a kind the others miss (shapes: latent_norm and mahalanobis; noise and photos: grey_fraction).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from model.bounds import elbo_by_label_with_noise
from model.classifier import DigitClassifier
from model.cvae import CVAE
from model.loss import loss_terms

FEATURES = ("reconstruction", "latent_norm", "mahalanobis", "elbo_gap", "grey_fraction")
# Beside the CVAE's weights: the class Gaussians of the classifier's hidden layer.
STATS_FILE = "ood.safetensors"
# Preprocessed pixels between these are anti-aliased edges or grey areas, not paper or solid ink.
GREY = (0.15, 0.85)


@dataclass(frozen=True)
class Evidence:
    """What the networks say about preprocessed images x (N, 1, H, W): the classifier's logits (N, K) and
    hidden layer (N, D), and the CVAE's ELBO under every label (N, K)."""

    x: Tensor
    logits: Tensor
    embedding: Tensor
    elbo: Tensor


@torch.inference_mode()
def gather_evidence(cvae: CVAE, classifier: DigitClassifier, x: Tensor, noise: Tensor) -> Evidence:
    """Evidence from the plain networks, as the service gathers it from their blockwise forms."""
    embedding = classifier.embed(x)
    return Evidence(x, classifier.head[3:](embedding), embedding, elbo_by_label_with_noise(cvae, x, noise))


@dataclass(frozen=True)
class ClassGaussians:
    """Class means (K, D) and the precision (D, D) of the shared covariance of the classifier's hidden
    layer."""

    means: Tensor
    precision: Tensor

    @classmethod
    def fit(
        cls, embedding: Tensor, labels: Tensor, num_classes: int, shrinkage: float = 1e-3
    ) -> ClassGaussians:
        """Means and shared covariance, the covariance shrunk toward its mean variance so that it inverts."""
        embedding = embedding.double()
        means = torch.stack([embedding[labels == k].mean(dim=0) for k in range(num_classes)])
        centred = embedding - means[labels]
        covariance = centred.T @ centred / len(embedding)
        covariance += (
            shrinkage * covariance.diagonal().mean() * torch.eye(len(covariance), dtype=torch.double)
        )
        return cls(means.float(), torch.linalg.inv(covariance).float())

    def distance(self, embedding: Tensor) -> Tensor:
        """(N,) squared Mahalanobis distance to the nearest class mean."""
        d = embedding[:, None].double() - self.means.to(embedding.device, torch.double)[None]
        precision = self.precision.to(embedding.device, torch.double)
        return torch.einsum("nkd,de,nke->nk", d, precision, d).amin(dim=1)

    def to_tensors(self) -> dict[str, Tensor]:
        return {"means": self.means, "precision": self.precision}


@torch.inference_mode()
def ood_features(cvae: CVAE, evidence: Evidence, gaussians: ClassGaussians) -> dict[str, Tensor]:
    """Each feature (N,) of each image."""
    x, labels = evidence.x, evidence.logits.argmax(dim=1)
    mu, logvar = cvae.encode(x, labels)
    terms = loss_terms(cvae.decode(mu, labels), x, mu, logvar, cvae.cfg.loss)
    ink = x > GREY[0]
    grey = ink & (x < GREY[1])
    return {
        "reconstruction": terms.rec,
        "latent_norm": mu.norm(dim=1),
        "mahalanobis": gaussians.distance(evidence.embedding),
        "elbo_gap": evidence.elbo.amax(dim=1) - evidence.elbo.gather(1, labels[:, None])[:, 0],
        "grey_fraction": grey.sum(dim=(1, 2, 3)) / ink.sum(dim=(1, 2, 3)).clamp(min=1),
    }


def _median_and_spread(values: Tensor) -> tuple[float, float]:
    """The median and the distance from it to the upper quartile; never 0 (the ELBO gap is 0 for most
    real data), so a feature that hardly varies on real data still counts when it moves."""
    median, upper = torch.quantile(values.double(), torch.tensor([0.5, 0.75], dtype=torch.double)).tolist()
    return median, max(upper - median, 1e-3 * max(abs(median), 1.0))


@dataclass(frozen=True)
class Calibration:
    """Per feature (median, spread) on held-out real data, those data's own scores, and the class Gaussians
    of the classifier (identified by its weights' sha256) the calibration was made with."""

    scales: dict[str, tuple[float, float]]
    scores: list[float]
    gaussians: ClassGaussians
    classifier_sha256: str

    def score(self, features: Mapping[str, Tensor]) -> Tensor:
        """(N,) ood_score: the largest standardised feature; about 0 for typical real data."""
        return torch.stack(
            [(features[name].double() - median) / spread for name, (median, spread) in self.scales.items()]
        ).amax(dim=0)

    def threshold(self, flag_rate: float) -> float:
        """The score above which at most `flag_rate` of the held-out real data lies."""
        ordered = sorted(self.scores)
        keep = math.ceil((1.0 - flag_rate) * len(ordered))
        return ordered[min(max(keep, 1), len(ordered)) - 1] if flag_rate > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        """What goes into config.json (the Gaussians go into STATS_FILE)."""
        return {
            "features": {name: {"median": m, "spread": s} for name, (m, s) in self.scales.items()},
            "scores": [round(s, 5) for s in sorted(self.scores)],
            "classifier_sha256": self.classifier_sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], tensors: Mapping[str, Tensor]) -> Calibration:
        scales = {name: (float(v["median"]), float(v["spread"])) for name, v in data["features"].items()}
        unknown = set(scales) - set(FEATURES)
        if unknown or not scales or not data["scores"]:
            raise ValueError(f"bad OOD calibration: features {sorted(scales)}, {len(data['scores'])} scores")
        gaussians = ClassGaussians(tensors["means"], tensors["precision"])
        return cls(scales, [float(s) for s in data["scores"]], gaussians, str(data["classifier_sha256"]))


def calibrate(
    features: Mapping[str, Tensor], gaussians: ClassGaussians, classifier_sha256: str
) -> Calibration:
    """The calibration from the features of held-out real data (as ood_features gives them)."""
    scales = {name: _median_and_spread(features[name]) for name in FEATURES}
    unscored = Calibration(scales, [0.0], gaussians, classifier_sha256)
    return Calibration(scales, unscored.score(features).tolist(), gaussians, classifier_sha256)
