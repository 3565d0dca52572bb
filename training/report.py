"""The results table of the README and docs/model.md, read from the checkpoints' config.json (`make results`,
training/commands/report.py)."""

from __future__ import annotations

import json
from pathlib import Path

from model.checkpoint import CONFIG_FILE, checkpoint_file

COLUMNS = (
    ("model", None),
    ("epochs", None),
    ("-ELBO (amortized)", "test_neg_elbo"),
    ("-ELBO (refined q)", "test_neg_elbo_refined"),
    ("IWAE k=500", "test_iwae_nll"),
    ("label acc.", "label_inference_accuracy"),
    ("sample acc.", "conditional_sample_accuracy"),
    ("diversity (min ratio)", "diversity_ratio_min"),
    ("CAS", "cas.synthetic"),
)
# Shares, shown as percentages; the other figures are nats or ratios.
PERCENT = {"label_inference_accuracy", "conditional_sample_accuracy", "cas.synthetic"}


def _cell(metrics: dict, key: str) -> str:
    value: object = metrics
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, int | float):
        return "-"
    return f"{value:.1%}" if key in PERCENT else f"{value:.2f}"


def results_table(directories: list[Path]) -> str:
    """One markdown row per evaluated CVAE checkpoint."""
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for directory in directories:
        config = json.loads(checkpoint_file(directory, CONFIG_FILE).read_text())
        metrics = config.get("metrics", {})
        model = config["model"]
        label = f"`{directory.name}` ({model['arch']}, z={model['latent_dim']})"
        cells = [label, str(config.get("epochs", "-"))] + [_cell(metrics, key) for _, key in COLUMNS[2:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
