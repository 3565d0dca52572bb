"""`cvae-export`: a served model's networks as ONNX files (model/onnx_export.py), with export.json saying what
each takes and gives and how far ONNX Runtime's answers are from PyTorch's."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
from pathlib import Path

from model.checkpoint import check_classifier_fits, load_checkpoint
from training.commands.arguments import command_parser, run_cli
from training.generate import paired_classifier
from training.output import check_output_directory

PROG = "cvae-export"
MANIFEST = "export.json"
EXPORT_MODULES = ("onnx", "onnxscript", "onnxruntime")

logger = logging.getLogger(PROG)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        PROG,
        "Write a CVAE's decoder and encoder and its classifier as ONNX files (decoder.onnx, encoder.onnx, "
        f"classifier.onnx, batch size free) and {MANIFEST}: their inputs and outputs, and the largest "
        "difference of each output from PyTorch's on seeded batches of 1, 8 and 13 rows.",
    )
    parser.add_argument("checkpoint", help="CVAE checkpoint directory")
    parser.add_argument(
        "--classifier",
        default=None,
        help="classifier checkpoint; default: the one beside the CVAE that its OOD calibration was made "
        "with (the one served with it), else one trained on the same data",
    )
    parser.add_argument("--out", required=True, help="directory to write (files of the same names replaced)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the parity batches")
    # One torch thread, as the service runs each batch (CVAE_TORCH_THREADS): parity against its PyTorch.
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()

    def run(args: argparse.Namespace) -> None:
        # Checked here rather than imported at the top: without the `export` extra, one line that says what to
        # install (torch imports onnxscript only once an export starts).
        missing = [name for name in EXPORT_MODULES if importlib.util.find_spec(name) is None]
        if missing:
            parser.exit(2, f"{PROG}: error: {', '.join(missing)} not installed (pip install '.[export]')\n")
        from model.onnx_export import export_served

        # The exporter's graph passes log each step at INFO, which run_cli's logging would print.
        for name in ("onnxscript", "onnx_ir"):
            logging.getLogger(name).setLevel(logging.WARNING)
        cvae = load_checkpoint(args.checkpoint, "cvae")
        classifier = load_checkpoint(args.classifier or paired_classifier(args.checkpoint), "classifier")
        check_classifier_fits(cvae, classifier)
        out = Path(args.out)
        check_output_directory(out)
        manifest = {
            "checkpoint": str(cvae.path),
            "classifier": str(classifier.path),
            **export_served(cvae.model, classifier.model, out, seed=args.seed),  # type: ignore[arg-type]
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        for name, network in manifest["networks"].items():
            largest = max(network["largest_abs_difference"].values())
            logger.info("%s: largest difference from PyTorch %.2g", name, largest)
        logger.info(
            "wrote %s to %s", ", ".join([*(n["file"] for n in manifest["networks"].values()), MANIFEST]), out
        )

    run_cli(parser, run, argv)


if __name__ == "__main__":
    main()
