"""`cvae-evaluate CHECKPOINT`: every metric as JSON, written into config.json, plus the figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from model.checkpoint import load_checkpoint, read_config, write_config
from model.config import ClassifierConfig
from model.device import resolve_device
from training.arguments import add_data_arguments, add_run_arguments, run_cli
from training.cas import classification_accuracy_score
from training.classifier_train import ClassifierRecipe, recorded_recipe
from training.data import load_split, to_tensors
from training.evaluate import evaluate_cvae
from training.figures import save_loss_curves, save_sample_grid


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cvae-evaluate",
        description="Evaluate a CVAE checkpoint on the test split: -ELBO, IWAE bound, label inference, "
        "conditional sample accuracy and diversity. Prints JSON, stores it in the checkpoint's "
        "config.json and writes samples.png and loss_curves.png beside it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("checkpoint", help="CVAE checkpoint directory")
    parser.add_argument(
        "--classifier",
        default="checkpoints/digit-classifier",
        help="digit-classifier checkpoint that judges generated samples",
    )
    add_data_arguments(parser)
    parser.add_argument("--elbo-samples", type=int, default=10, help="z samples per image for the -ELBO")
    parser.add_argument(
        "--iwae-k", type=int, default=500, help="importance samples per image for the IWAE bound"
    )
    parser.add_argument(
        "--refine-steps",
        type=int,
        default=50,
        help="Adam steps refining q(z|x,y) per test image, for the refined -ELBO and the IWAE proposal",
    )
    parser.add_argument(
        "--label-samples", type=int, default=10, help="z samples per image and label for label inference"
    )
    parser.add_argument(
        "--samples-per-class",
        type=int,
        default=100,
        help="generated images per digit for sample accuracy and diversity",
    )
    parser.add_argument(
        "--bound-images",
        type=int,
        default=None,
        help="test images (evenly spaced) for the refined ELBO and the IWAE bound; default: all",
    )
    parser.add_argument(
        "--cas",
        action="store_true",
        help="also the classification accuracy score: the judging classifier's recipe trained on synthetic "
        "images, on the real training split and on both, each tested on the real test split (minutes); "
        "without it, a score recorded earlier for the same weights is kept",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave config.json and figures alone"
    )
    add_run_arguments(parser, seed=0, device="auto")
    return parser


def main(argv: list[str] | None = None) -> None:
    def run(args: argparse.Namespace) -> None:
        device = resolve_device(args.device)
        cvae = load_checkpoint(args.checkpoint, "cvae", device)
        classifier = load_checkpoint(args.classifier, "classifier", device)
        split = load_split(args.data, args.data_dir, args.npm_tarball)
        x, y = (t.to(device) for t in to_tensors(split.test_images, split.test_labels))
        metrics = evaluate_cvae(
            cvae.model,
            classifier.model,
            x,
            y,
            elbo_samples=args.elbo_samples,
            iwae_k=args.iwae_k,
            refine_steps=args.refine_steps,
            label_samples=args.label_samples,
            samples_per_class=args.samples_per_class,
            seed=args.seed,
            bound_images=args.bound_images,
        )
        metrics["data"] = split.name
        metrics["classifier"] = {"path": args.classifier, **classifier.config.get("metrics", {})}
        directory = Path(args.checkpoint)
        config = read_config(directory)
        earlier = config.get("metrics", {}).get("cas")
        if args.cas:
            recipe = ClassifierRecipe(
                epochs=classifier.config["epochs"],
                seed=args.seed,
                device=str(device),
                **recorded_recipe(classifier.config["training"]),
            )
            metrics["cas"] = {
                **classification_accuracy_score(
                    directory, split, recipe, ClassifierConfig.from_dict(classifier.config["model"])
                ),
                "weights_sha256": config["weights_sha256"],
            }
        elif earlier and earlier.get("weights_sha256") == config["weights_sha256"]:
            metrics["cas"] = earlier
        print(json.dumps(metrics, indent=2))
        if args.no_write:
            return
        config["metrics"] = metrics
        write_config(directory, config)
        save_sample_grid(cvae.model, directory / "samples.png", seed=args.seed)
        history = config.get("training", {}).get("history")
        if history:
            save_loss_curves(
                history, directory / "loss_curves.png", f"{directory.name} ({cvae.model.cfg.arch})"
            )

    run_cli(build_parser(), run, argv)


if __name__ == "__main__":
    main()
