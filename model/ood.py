"""How unlike its model's training data an upload is: the service's `ood_score` and `is_digit`.

Each feature is larger for stranger inputs. Five are something the models already know, measured under the
label the classifier reads (so the verdict does not depend on a label the user gave); the sixth is learned:
- `reconstruction`: the CVAE's reconstruction error (BCE, nats) from the encoder's mean: the decoder redraws
  what looks like its training data, not a letter or a photo;
- `latent_norm`: |mu| of q(z|x, label): strange inputs are pushed to the far edges of the prior;
- `mahalanobis`: the squared Mahalanobis distance of the classifier's hidden layer to the nearest class
  (Lee et al. 2018), class means and shared covariance fitted on the training split;
- `elbo_gap`: how much better the CVAE's ELBO under its own best label is than under the classifier's:
  the two agree on real data and disagree on much else;
- `grey_fraction`: the share of the preprocessed ink that is neither paper nor full ink: MNIST's strokes
  are solid, photographs, noise and cloth textures are grey all over;
- `detector`: the mean logit of five small CNNs trained by outlier exposure (model/detector.py,
  training/outliers.py) on the model's train split against generated letters, shapes, noise and pictures:
  it learns what the others cannot express, such as a letter's serifs or a shape's straight edges.
Each is standardised by its median and upper quartile on held-out data of the model's own dataset. The
score is the largest standardised feature of SCORED; the threshold is the quantile of the same held-out scores
that flags the chosen share of real data (CVAE_OOD_FLAG_RATE).

SCORED is the detector alone, by measurement (training/ood_report.py on the shipped digits model,
docs/trust.md): its ROC AUC is 0.996 to 1.0 for every kind of non-digit, above each of the five
others' (0.45 to 0.97 but for the reconstruction's 0.995 on letters). The largest of all six flagged 5.2% of
digits drawn at other sizes and of photographed ones, where the detector alone flags 1.0% and 2.8%:
elbo_gap, 0 on most digits and a step wherever the ELBO and the classifier disagree, spends the whole 2%
on held-out digits by itself, and grey_fraction and reconstruction flag thin or photographed strokes; and
it let 10% of shapes and 7% of Fashion-MNIST pass, against 0.4% and 2.4% for the detector. The five are
still calibrated, recorded and measured per kind, so that a model or a kind of upload they would serve
better shows in the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import Tensor

from model.bounds import elbo_by_label_with_noise
from model.checkpoint import Checkpoint, load_tensors
from model.classifier import DigitClassifier
from model.cvae import CVAE
from model.detector import OutlierDetector
from model.loss import LossTerms, loss_terms

FEATURES = ("reconstruction", "latent_norm", "mahalanobis", "elbo_gap", "grey_fraction", "detector")
# The features whose largest standardised value is the score (see above).
SCORED = ("detector",)
# Features that need the ELBO under every label (a pass of the CVAE per label) in their Evidence.
NEEDS_ELBO = frozenset({"elbo_gap"})
# Whether the score itself needs it.
SCORE_NEEDS_ELBO = not NEEDS_ELBO.isdisjoint(SCORED)
# Beside the CVAE's weights: the class Gaussians of the classifier's hidden layer and the outlier detector.
STATS_FILE = "ood.safetensors"
# Preprocessed pixels between these are anti-aliased edges or grey areas, not paper or solid ink.
GREY = (0.15, 0.85)


@dataclass(frozen=True)
class Evidence:
    """What the networks say about preprocessed images x (N, 1, H, W): the classifier's logits (N, K) and
    hidden layer (N, D), and the CVAE's ELBO under every label (N, K; None where no feature asked for needs
    it: NEEDS_ELBO)."""

    x: Tensor
    logits: Tensor
    embedding: Tensor
    elbo: Tensor | None


@torch.inference_mode()
def gather_evidence(
    cvae: CVAE, classifier: DigitClassifier, x: Tensor, noise: Tensor, names: Sequence[str] = FEATURES
) -> Evidence:
    """Evidence from the plain networks for the features `names`, as the service gathers it from their
    blockwise forms (the ELBO under every label only when one of them needs it)."""
    embedding = classifier.embed(x)
    elbo = elbo_by_label_with_noise(cvae, x, noise) if not NEEDS_ELBO.isdisjoint(names) else None
    return Evidence(x, classifier.head[3:](embedding), embedding, elbo)


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
def ood_features(
    cvae: CVAE,
    evidence: Evidence,
    gaussians: ClassGaussians,
    detector: Callable[[Tensor], Tensor],
    names: Sequence[str] = FEATURES,
) -> dict[str, Tensor]:
    """Each feature of `names` (N,) of each image, computing only what those need (the service asks for
    SCORED alone); `detector` is the OutlierDetector or its blockwise form."""
    x, labels = evidence.x, evidence.logits.argmax(dim=1)

    @cache
    def posterior() -> tuple[Tensor, LossTerms]:
        mu, logvar = cvae.encode(x, labels)
        return mu, loss_terms(cvae.decode(mu, labels), x, mu, logvar, cvae.cfg.loss)

    def elbo_gap() -> Tensor:
        if evidence.elbo is None:
            raise ValueError("elbo_gap needs the ELBO under every label in the evidence")
        return evidence.elbo.amax(dim=1) - evidence.elbo.gather(1, labels[:, None])[:, 0]

    def grey_fraction() -> Tensor:
        ink = x > GREY[0]
        grey = ink & (x < GREY[1])
        return grey.sum(dim=(1, 2, 3)) / ink.sum(dim=(1, 2, 3)).clamp(min=1)

    compute: dict[str, Callable[[], Tensor]] = {
        "reconstruction": lambda: posterior()[1].rec,
        "latent_norm": lambda: posterior()[0].norm(dim=1),
        "mahalanobis": lambda: gaussians.distance(evidence.embedding),
        "elbo_gap": elbo_gap,
        "grey_fraction": grey_fraction,
        "detector": lambda: detector(x),
    }
    return {name: compute[name]() for name in names}


def _median_and_spread(values: Tensor) -> tuple[float, float]:
    """The median and the distance from it to the upper quartile; never 0 (the ELBO gap is 0 for most
    real data), so a feature that hardly varies on real data still counts when it moves."""
    median, upper = torch.quantile(values.double(), torch.tensor([0.5, 0.75], dtype=torch.double)).tolist()
    return median, max(upper - median, 1e-3 * max(abs(median), 1.0))


@dataclass(frozen=True)
class Calibration:
    """Per feature (median, spread) on held-out real data, those data's own scores, the class Gaussians of
    the classifier (identified by its weights' sha256) the calibration was made with, and the detector."""

    scales: dict[str, tuple[float, float]]
    scores: list[float]
    gaussians: ClassGaussians
    detector: OutlierDetector
    classifier_sha256: str

    def standardised(self, features: Mapping[str, Tensor], name: str) -> Tensor:
        """(N,) one feature in units of its spread above its median on held-out real data."""
        median, spread = self.scales[name]
        return (features[name].double() - median) / spread

    def score(self, features: Mapping[str, Tensor]) -> Tensor:
        """(N,) ood_score: the largest standardised feature of SCORED; about 0 for typical real data."""
        return torch.stack([self.standardised(features, name) for name in SCORED]).amax(dim=0)

    def score_of(self, cvae: CVAE, evidence: Evidence, detector: Callable[[Tensor], Tensor]) -> Tensor:
        """(N,) ood_score of the evidence's images, computing only the features SCORED reads."""
        return self.score(ood_features(cvae, evidence, self.gaussians, detector, SCORED))

    def threshold(self, flag_rate: float) -> float:
        """The score above which at most `flag_rate` of the held-out real data lies."""
        ordered = sorted(self.scores)
        keep = math.ceil((1.0 - flag_rate) * len(ordered))
        return ordered[min(max(keep, 1), len(ordered)) - 1] if flag_rate > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        """What goes into config.json (the networks' tensors go into STATS_FILE: to_tensors)."""
        return {
            "features": {name: {"median": m, "spread": s} for name, (m, s) in self.scales.items()},
            "scores": [round(s, 5) for s in sorted(self.scores)],
            "classifier_sha256": self.classifier_sha256,
        }

    def to_tensors(self) -> dict[str, Tensor]:
        """What goes into STATS_FILE: the class Gaussians, and the detector's weights under its prefix."""
        return {**self.gaussians.to_tensors(), **self.detector.to_tensors()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], tensors: Mapping[str, Tensor]) -> Calibration:
        """The calibration from config.json's "ood" and STATS_FILE; ValueError for one this code did not
        write (another set of features, or no detector: cvae-calibrate must run again)."""
        scales = {name: (float(v["median"]), float(v["spread"])) for name, v in data["features"].items()}
        if set(scales) != set(FEATURES) or not data["scores"]:
            raise ValueError(
                f"OOD calibration with features {sorted(scales)} and {len(data['scores'])} scores, expected "
                f"{sorted(FEATURES)}: run cvae-calibrate again"
            )
        gaussians = ClassGaussians(tensors["means"], tensors["precision"])
        detector = OutlierDetector.from_tensors(tensors)
        scores = [float(s) for s in data["scores"]]
        return cls(scales, scores, gaussians, detector, str(data["classifier_sha256"]))


def stored_calibration(cvae: Checkpoint) -> Calibration:
    """The calibration cvae-calibrate stored with a CVAE checkpoint (KeyError when it has none; ValueError for
    one that this code did not write)."""
    return Calibration.from_dict(cvae.config["ood"], load_tensors(cvae.path, STATS_FILE, cvae.config))


def calibrate(
    features: Mapping[str, Tensor],
    gaussians: ClassGaussians,
    detector: OutlierDetector,
    classifier_sha256: str,
) -> Calibration:
    """The calibration from the features of held-out real data (as ood_features gives them)."""
    scales = {name: _median_and_spread(features[name]) for name in FEATURES}
    unscored = Calibration(scales, [0.0], gaussians, detector, classifier_sha256)
    return Calibration(scales, unscored.score(features).tolist(), gaussians, detector, classifier_sha256)
