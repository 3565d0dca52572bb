"""The metrics of DESIGN.md, computed the same way for every checkpoint we report.

- test -ELBO: nats per image (BCE on grayscale targets, true label), reconstruction averaged over 10 z;
  once with the encoder's q(z|x,y) (amortized) and once with q refined per image (model/bounds.py), which
  bounds the same generative model more tightly;
- IWAE bound with k samples (k >= 500), the refined q as proposal: a tighter estimate of -log p(x|y);
- label-inference accuracy: argmax over y of the ELBO (the CVAE as a Bayes classifier, uniform prior);
- conditional sample accuracy: the digit classifier's verdict on samples generated at temperature 1;
- diversity: mean pairwise L2 distance of samples of a class over that of the real test digits of that class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from model.bounds import elbo, elbo_by_label, iwae_bound, refine_posterior
from model.checkpoint import load_checkpoint, write_config
from model.classifier import classify
from model.config import ClassifierConfig
from model.cvae import CVAE
from training.cas import classification_accuracy_score
from training.data import Split, evenly_spaced, to_tensors
from training.figures import save_loss_curves, save_sample_grid
from training.train_classifier import ClassifierRecipe, recorded_recipe


def _option(default: int | None, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class EvaluationOptions:
    """How many draws each metric takes; each field's help is its cvae-evaluate option's."""

    elbo_samples: int = _option(10, "z samples per image for the -ELBO")
    iwae_k: int = _option(500, "importance samples per image for the IWAE bound")
    refine_steps: int = _option(
        50, "Adam steps refining q(z|x,y) per test image, for the refined -ELBO and the IWAE proposal"
    )
    label_samples: int = _option(10, "z samples per image and label for label inference")
    samples_per_class: int = _option(100, "generated images per digit for sample accuracy and diversity")
    bound_images: int | None = _option(
        None, "test images (evenly spaced) for the refined ELBO and the IWAE bound; default: all"
    )


def _batched(fn, n: int, batch_size: int) -> Tensor:
    return torch.cat([fn(slice(i, i + batch_size)) for i in range(0, n, batch_size)])


def mean_pairwise_distance(images: Tensor) -> float:
    """Mean L2 distance over all distinct pairs of images, in pixel units of [0, 1]."""
    flat = images.flatten(1).double()
    distances = torch.cdist(flat, flat)
    n = len(flat)
    return (distances.sum() / (n * (n - 1))).item()


def evaluate_cvae(
    model: CVAE,
    classifier: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    elbo_samples: int = 10,
    iwae_k: int = 500,
    refine_steps: int = 50,
    label_samples: int = 10,
    samples_per_class: int = 100,
    seed: int = 0,
    batch_size: int = 100,
    bound_images: int | None = None,
) -> dict[str, object]:
    """Every metric on the test images `x` with labels `y` (already on the model's device). The refined
    ELBO and the IWAE bound, some 50 times dearer than the rest, use `bound_images` of them, evenly spaced
    (all when None): a 10,000-image test split takes 5 min that way instead of an hour on a CPU."""
    g = torch.Generator(device=x.device).manual_seed(seed)
    neg_elbo = -_batched(lambda s: elbo(model, x[s], y[s], elbo_samples, g), len(x), batch_size)
    chosen = evenly_spaced(len(x), bound_images)
    xb, yb = x[chosen], y[chosen]
    mu, logvar = refine_posterior(model, xb, yb, refine_steps, generator=g)
    refined = -_batched(
        lambda s: elbo(model, xb[s], yb[s], elbo_samples, g, (mu[s], logvar[s])), len(xb), batch_size
    )
    iwae_chunk = max(1, 5000 // min(len(xb), 50))
    neg_iwae = -_batched(
        lambda s: iwae_bound(model, xb[s], yb[s], iwae_k, iwae_chunk, g, (mu[s], logvar[s])), len(xb), 50
    )
    by_label = _batched(lambda s: elbo_by_label(model, x[s], label_samples, g), len(x), batch_size)
    label_accuracy = (by_label.argmax(dim=1) == y).float().mean().item()

    classes = model.cfg.num_classes
    cpu_g = torch.Generator().manual_seed(seed)
    wanted = torch.arange(classes, device=x.device).repeat_interleave(samples_per_class)
    generated = torch.cat(
        [
            model.generate(wanted[s], 1.0, cpu_g)
            for s in (slice(i, i + 500) for i in range(0, len(wanted), 500))
        ]
    )
    sample_accuracy = (classify(classifier, generated) == wanted).float().mean().item()

    diversity = {}
    for digit in range(classes):
        real = x[y == digit]
        fake = generated[wanted == digit]
        diversity[str(digit)] = {
            "samples": round(mean_pairwise_distance(fake), 4),
            "real": round(mean_pairwise_distance(real), 4),
            "ratio": round(mean_pairwise_distance(fake) / mean_pairwise_distance(real), 4),
        }
    return {
        "test_neg_elbo": round(neg_elbo.mean().item(), 3),
        "test_neg_elbo_samples": elbo_samples,
        "test_neg_elbo_refined": round(refined.mean().item(), 3),
        "refine_steps": refine_steps,
        "test_iwae_nll": round(neg_iwae.mean().item(), 3),
        "iwae_k": iwae_k,
        "label_inference_accuracy": round(label_accuracy, 4),
        "conditional_sample_accuracy": round(sample_accuracy, 4),
        "samples_per_class": samples_per_class,
        "diversity_ratio_min": min(d["ratio"] for d in diversity.values()),
        "diversity": diversity,
        "test_images": len(x),
        "bound_images": len(xb),
        "seed": seed,
    }


def evaluate_checkpoint(
    checkpoint: str | Path,
    classifier_path: str | Path,
    split: Split,
    options: EvaluationOptions,
    *,
    seed: int,
    device: torch.device,
    cas: bool,
    write: bool,
) -> dict[str, object]:
    """Every metric of the CVAE at `checkpoint`, its samples judged by the classifier at `classifier_path`;
    with `cas`, the classification accuracy score too (minutes), else one recorded earlier for the same
    weights is kept. With `write`, the metrics go into its config.json, with samples.png and
    loss_curves.png beside it."""
    cvae = load_checkpoint(checkpoint, "cvae", device)
    classifier = load_checkpoint(classifier_path, "classifier", device)
    x, y = (t.to(device) for t in to_tensors(split.test_images, split.test_labels))
    metrics = evaluate_cvae(cvae.model, classifier.model, x, y, **asdict(options), seed=seed)
    metrics["data"] = split.name
    metrics["classifier"] = {"path": str(classifier_path), **classifier.config.get("metrics", {})}
    directory, config = Path(checkpoint), cvae.config
    earlier = config.get("metrics", {}).get("cas")
    if cas:
        recipe = ClassifierRecipe(
            **{
                **recorded_recipe(classifier.config["training"]),
                "epochs": classifier.config["epochs"],
                "seed": seed,
                "device": str(device),
            }
        )
        score = classification_accuracy_score(
            directory, split, recipe, ClassifierConfig.from_dict(classifier.config["model"])
        )
        metrics["cas"] = {**score, "weights_sha256": config["weights_sha256"]}
    elif earlier and earlier.get("weights_sha256") == config["weights_sha256"]:
        metrics["cas"] = earlier
    if write:
        write_config(directory, {**config, "metrics": metrics})
        save_sample_grid(cvae.model, directory / "samples.png", seed=seed)
        history = config.get("training", {}).get("history")
        if history:
            save_loss_curves(
                history, directory / "loss_curves.png", f"{directory.name} ({cvae.model.cfg.arch})"
            )
    return metrics
