"""What /v1/sample's min_confidence costs and buys.

Per class, 1,000 latents at temperature 1 from the stream the service draws (model/legible.py; the seed is
the class), judged as the service judges them (the classifier on the uint8 pixels): the fraction accepted
at each min_confidence, the mean pairwise L2 distance of the accepted images over that of all of them (1: no
diversity lost), and the fraction of those accepted at 0.9 that the classifier's argmax reads as the class
asked for, beside that fraction for all images. The issue's bar is 99.5% at 0.9; a probability of 0.9
leaves every other class under 0.1, so it holds by construction, and the report checks it all the same (exit
status 1 below it). `make legible` writes it to benchmarks/results/legible.json and prints a markdown table
(training/commands/legible_report.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from model.checkpoint import load_checkpoint
from model.cvae import CVAE
from model.inference import inference_form
from model.legible import LatentStream, judge, passes
from training.evaluate import mean_pairwise_distance

THRESHOLDS = (0.5, 0.9, 0.99)
ARGMAX_THRESHOLD = 0.9
ARGMAX_BAR = 0.995
AGREEMENT_AT_BAR = f"argmax_agreement_at_{ARGMAX_THRESHOLD}"
OUT = Path("benchmarks/results/legible.json")


def legible_report(
    cvae: CVAE, classifier: torch.nn.Module, draws: int = 1000, temperature: float = 1.0
) -> dict[str, object]:
    """Acceptance, diversity and argmax agreement per class, for networks in their inference form."""
    classes: dict[str, dict[str, object]] = {}
    agreeing = accepted_at_bar = 0
    for label in range(cvae.cfg.num_classes):
        z = LatentStream(cvae, label, draws, temperature).take(draws)
        judged = judge(cvae, classifier, z, torch.full((draws,), label, dtype=torch.long))
        images = torch.from_numpy(judged.tiles).float().div(255)
        spread = mean_pairwise_distance(images)
        agrees = judged.probabilities.argmax(dim=1) == label
        by_threshold = {}
        for threshold in THRESHOLDS:
            kept = passes(judged.confidence, threshold)
            ratio = mean_pairwise_distance(images[kept]) / spread if kept.sum() >= 2 else None
            by_threshold[str(threshold)] = {
                "acceptance": round(kept.float().mean().item(), 4),
                "diversity_ratio": None if ratio is None else round(ratio, 4),
            }
        at_bar = passes(judged.confidence, ARGMAX_THRESHOLD)
        agreeing += int(agrees[at_bar].sum())
        accepted_at_bar += int(at_bar.sum())
        classes[str(label)] = {
            "thresholds": by_threshold,
            "argmax_agreement_all": round(agrees.float().mean().item(), 4),
            AGREEMENT_AT_BAR: round(agrees[at_bar].float().mean().item(), 4),
        }
    return {
        "draws_per_class": draws,
        "temperature": temperature,
        "seed": "the class: the stream of /v1/sample with seed=label",
        "classes": classes,
        AGREEMENT_AT_BAR: round(agreeing / max(accepted_at_bar, 1), 4),
    }


def markdown_table(report: dict) -> str:
    """One row per class: acceptance and diversity ratio at each threshold, then argmax agreement."""
    head = ["class"] + [f"accepted ≥{t}" for t in THRESHOLDS] + [f"diversity ≥{t}" for t in THRESHOLDS]
    head += ["argmax = class (all)", f"argmax = class (≥{ARGMAX_THRESHOLD})"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for label, row in report["classes"].items():
        cells = [label]
        cells += [f"{row['thresholds'][str(t)]['acceptance']:.1%}" for t in THRESHOLDS]
        ratios = [row["thresholds"][str(t)]["diversity_ratio"] for t in THRESHOLDS]
        cells += ["-" if ratio is None else f"{ratio:.3f}" for ratio in ratios]
        cells += [f"{row['argmax_agreement_all']:.1%}", f"{row[AGREEMENT_AT_BAR]:.1%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def served_legible_report(
    checkpoint: Path, classifier_path: Path, draws: int, temperature: float
) -> dict[str, object]:
    """legible_report of the checkpoint's networks in the form the service runs them (so the verdicts are
    the service's), with what was measured and how long it took."""
    cpu = torch.device("cpu")
    cvae = load_checkpoint(checkpoint, "cvae", cpu).model
    classifier = load_checkpoint(classifier_path, "classifier", cpu).model
    cvae.decoder = inference_form(cvae.decoder)
    start = time.perf_counter()
    report = legible_report(cvae, inference_form(classifier), draws, temperature)
    return {
        "checkpoint": str(checkpoint),
        "classifier": str(classifier_path),
        **report,
        "seconds": round(time.perf_counter() - start, 1),
        "torch": torch.__version__,
    }
