"""The project on a GPU (`make bench-cuda`): the shipped decoder in-process on CUDA, cvae-serve on CUDA
beside cvae-serve on the same machine's CPUs, and the shipped digits model trained and evaluated on CUDA.

Three stages, each written to the results as soon as it ends, so a run cut short keeps what it measured:
- decoder: images/s at blocks of 8 to 1024 rows in float32, bfloat16 and float16 (autocast, as the service
  runs it), whether a row's bytes stay the same whatever the batch around it (the service's promise), and
  how far each precision's pixels are from the CPU's float32 ones;
- serving: wrk on 127.0.0.1 against cvae-serve on the CPUs (as shipped) and on CUDA (float32 at 8-row
  blocks, what `CVAE_DEVICE=cuda` alone gives, and half precision at 256-row blocks, with the default
  workers and with one);
- training: `cvae-train --device cuda` with the shipped recipe, then `cvae-evaluate --cas`, timed, beside
  the shipped checkpoint's metrics (trained on a CPU).

Needs a GPU and wrk; writes benchmarks/results/cuda.json (about 8 minutes on one H200).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmarks.decoder import pixels
from benchmarks.serving import machine_info
from benchmarks.serving_requests import get_request, json_request, sample_request
from benchmarks.serving_servers import HOST, REPO, Server, free_port, serve
from benchmarks.wrk import Request, run_wrk, wrk_binary
from model.checkpoint import load_checkpoint
from model.inference import inference_form
from model.onnx_export import seeded_inputs

RESULTS = REPO / "benchmarks" / "results" / "cuda.json"
ROWS = (8, 64, 256, 1024)
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# (name, device, workers (None: the default), CVAE_* settings)
SERVERS: tuple[tuple[str, str, int | None, dict[str, str]], ...] = (
    ("cpu", "cpu", None, {}),
    ("cuda-fp32-rows8", "cuda", None, {"CVAE_PRECISION": "fp32"}),
    ("cuda-half-rows256", "cuda", None, {"CVAE_PRECISION": "auto", "CVAE_BLOCK_ROWS": "256"}),
    ("cuda-half-rows256-1-worker", "cuda", 1, {"CVAE_PRECISION": "auto", "CVAE_BLOCK_ROWS": "256"}),
)
# (route, request, images per request, concurrencies)
LOADS: tuple[tuple[str, Request, int, tuple[int, ...]], ...] = (
    ("healthz", get_request("/healthz"), 0, (64,)),
    ("sample_n1", sample_request(1), 1, (1, 64)),
    ("sample_n64", sample_request(64), 64, (16,)),
    ("number_4", json_request("/v1/number", {"text": "2026", "seed": 1}), 4, (16,)),
)


def timed(run: Callable[[], Tensor], rounds: int) -> float:
    """Median seconds of `rounds` runs after one untimed one, the GPU synchronised around each."""
    run()
    torch.cuda.synchronize()
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[len(seconds) // 2]


def decode(network: torch.nn.Module, dtype: torch.dtype | None, z: Tensor, c: Tensor) -> Tensor:
    """The decoder's float32 logits, under autocast to `dtype` as the service runs it (None: float32)."""
    with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
        return network(z, c).float()


def measure_decoder(checkpoint: str, images: int, rounds: int) -> dict[str, Any]:
    cvae = load_checkpoint(checkpoint, "cvae").model
    inputs = seeded_inputs(cvae, images)  # type: ignore[arg-type]
    z, c = inputs["z"], inputs["c"]
    with torch.inference_mode():
        reference = pixels(inference_form(copy.deepcopy(cvae.decoder))(z[:1024], c[:1024]))
    zc, cc = z.cuda(), c.cuda()
    figures: dict[str, Any] = {}
    for rows in ROWS:
        network = inference_form(copy.deepcopy(cvae.decoder).cuda(), rows)
        for name, dtype in PRECISIONS.items():
            with torch.inference_mode():
                seconds = timed(lambda: decode(network, dtype, zc, cc), rounds)  # noqa: B023 (called here)
                whole = pixels(decode(network, dtype, zc, cc).cpu())
                # the same rows decoded alone and at another offset: the service's same-bytes promise
                alone = pixels(decode(network, dtype, zc[5:18], cc[5:18]).cpu())
            ours = whole[:1024]
            figures[f"rows{rows}_{name}"] = {
                "images_per_s": round(images / seconds),
                "same_bytes_at_any_batch": bool(torch.equal(alone, whole[5:18])),
                "pixels_differing_from_cpu_fp32_share": round((ours != reference).float().mean().item(), 6),
                "largest_pixel_difference_from_cpu_fp32": int((ours - reference).abs().max().item()),
            }
            print(f"decoder rows {rows} {name}: {figures[f'rows{rows}_{name}']}", flush=True)
    return {"images_per_pass": images, "rounds": rounds, "cases": figures}


def measure_server(name: str, device: str, workers: int | None, env: dict[str, str], workdir: Path) -> dict:
    port = free_port()
    command = [str(Path(sys.executable).parent / "cvae-serve"), "--host", HOST, "--port", str(port)]
    command += ["--device", device] + (["--workers", str(workers)] if workers else [])
    with serve(name, command, port, "/readyz", workdir, env, settle_timeout_s=20) as server:
        served: dict[str, Any] = {
            "device": server.get_json("/v1/model")["device"],
            "workers": workers or "default",
            "settings": env,
            "cold_start_s": server.cold_start_s,
            "rss_mb_after_start": server.rss_mb(),
        }
        for route, request, images, concurrencies in LOADS:
            run_wrk(server.url, request, max(concurrencies), 1, workdir)  # warm-up
            for connections in concurrencies:
                served[f"{route}_c{connections}"] = load(server, request, images, connections, workdir)
        print(f"{name}: {served}", flush=True)
        return served


def load(server: Server, request: Request, images: int, connections: int, workdir: Path) -> dict[str, Any]:
    server.wait_idle(timeout_s=5)
    run = run_wrk(server.url, request, connections, 3, workdir).as_dict()
    if images:
        run["images_per_s"] = round(images * run["requests_per_s"], 1)
    return run


def train_and_evaluate(
    workdir: Path,
    timeouts_s: tuple[int, int],
    device: str = "cuda",
    extra: tuple[list[str], list[str]] = ([], []),
) -> dict[str, Any]:
    """The shipped recipe trained on `device` and evaluated there; `extra` options for each command only
    shrink it for a test."""
    bin_dir = Path(sys.executable).parent
    out = workdir / f"cvae-mnist-{device}"
    figures: dict[str, Any] = {"recipe": f"the shipped one (cvae-train's defaults), --device {device}"}
    start = time.perf_counter()
    subprocess.run(
        [str(bin_dir / "cvae-train"), "--device", device, "--out", str(out), *extra[0]],
        check=True,
        timeout=timeouts_s[0],
    )
    figures["train_wall_s"] = round(time.perf_counter() - start, 1)
    config = json.loads((out / "config.json").read_text())
    figures["runtime"] = config["runtime"]
    figures["last_epoch"] = config["training"]["history"][-1]
    start = time.perf_counter()
    evaluated = subprocess.run(
        [str(bin_dir / "cvae-evaluate"), str(out), "--device", device, "--cas", "--no-write", *extra[1]],
        check=True,
        timeout=timeouts_s[1],
        capture_output=True,
        text=True,
    )
    figures["evaluate_wall_s"] = round(time.perf_counter() - start, 1)
    metrics = json.loads(evaluated.stdout[evaluated.stdout.index("{") :])
    shipped = json.loads((REPO / "checkpoints" / "cvae-mnist" / "config.json").read_text())["metrics"]
    keys = ("test_neg_elbo", "test_iwae_nll", "conditional_sample_accuracy", "diversity_ratio_min")
    figures["metrics"] = {key: metrics.get(key) for key in keys} | {"cas": metrics.get("cas")}
    figures["shipped_cpu_metrics"] = {key: shipped.get(key) for key in keys} | {"cas": shipped.get("cas")}
    return figures


# Issue 26's levers that cvae-train already has, each alone at SWEEP_EPOCHS (a shorter run than the shipped
# 140, the same for all, so they compare with each other and not with the shipped figures).
SWEEP_EPOCHS = 40
VARIANTS: dict[str, list[str]] = {
    "defaults": [],
    "augment 0": ["--augment", "0"],
    "augment 1": ["--augment", "1"],
    "beta 1": ["--beta", "1"],
    "latent 16": ["--latent-dim", "16"],
    "channels 48": ["--channels", "48"],
    "channels 64": ["--channels", "64"],
    "channels 48, beta 1": ["--channels", "48", "--beta", "1"],
}


def sweep(
    workdir: Path, timeout_s: int, names: list[str], device: str = "cuda", epochs: int = SWEEP_EPOCHS
) -> dict[str, Any]:
    """The named variants trained at once on `device` (a GPU has room for all), each one's last test -ELBO."""
    train = str(Path(sys.executable).parent / "cvae-train")
    runs = {
        name: subprocess.Popen(
            [
                train,
                "--device",
                device,
                "--epochs",
                str(epochs),
                "--out",
                str(workdir / f"sweep-{i}"),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, (name, extra) in enumerate((name, VARIANTS[name]) for name in names)
    }
    deadline = time.perf_counter() + timeout_s
    figures: dict[str, Any] = {"epochs": epochs}
    for i, (name, run) in enumerate(runs.items()):
        try:
            run.wait(timeout=max(1.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            run.kill()
        config = workdir / f"sweep-{i}" / "config.json"
        history = json.loads(config.read_text())["training"]["history"] if config.exists() else []
        figures[name] = {"options": VARIANTS[name], "epochs_done": len(history), "last": history[-1:]}
    return figures


def recorded(measure: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """measure(*args), or the error it raised: a part that fails is recorded, and the next still runs."""
    try:
        return measure(*args)
    except Exception:
        error = traceback.format_exc()
        print(error, file=sys.stderr, flush=True)
        return {"error": error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="checkpoints/cvae-mnist", help="CVAE checkpoint directory")
    parser.add_argument("--images", type=int, default=8192, help="images per timed decoder pass")
    parser.add_argument("--rounds", type=int, default=3, help="timed decoder passes per case")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file")
    parser.add_argument("--train-timeout-s", type=int, default=300, help="longest training run")
    parser.add_argument("--evaluate-timeout-s", type=int, default=150, help="longest evaluation")
    parser.add_argument(
        "--variants", default="defaults,augment 0,augment 1,beta 1,latent 16,channels 48", help="the sweep's"
    )
    parser.add_argument("--epochs", type=int, default=SWEEP_EPOCHS, help="each sweep variant's epochs")
    parser.add_argument("--commit", help="the commit measured, where the tree has no git (default: git's)")
    parser.add_argument("--stages", default="serving,decoder,training", help="comma-separated, in order")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench-cuda: no GPU is visible to torch", file=sys.stderr)
        return 2
    if not wrk_binary():
        print("bench-cuda: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    os.environ.pop("CVAE_API_KEY", None)
    results: dict[str, Any] = {
        "benchmark": "the project on a GPU: decoder in-process, cvae-serve on CUDA and CPU, training",
        "machine": machine_info()
        | {"cuda": torch.version.cuda}
        | ({"git_commit": args.commit} if args.commit else {}),
    }
    stages: dict[str, Callable[[Path], Any]] = {
        "decoder": lambda _: measure_decoder(args.checkpoint, args.images, args.rounds),
        "serving": lambda workdir: {
            server[0]: recorded(measure_server, *server, workdir) for server in SERVERS
        },
        "sweep": lambda workdir: sweep(
            workdir, args.train_timeout_s, args.variants.split(","), epochs=args.epochs
        ),
        "training": lambda workdir: train_and_evaluate(
            workdir, (args.train_timeout_s, args.evaluate_timeout_s)
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-cuda-") as workdir:
        for stage in args.stages.split(","):
            start = time.perf_counter()
            results[stage] = recorded(stages[stage], Path(workdir))
            results[stage]["stage_wall_s"] = round(time.perf_counter() - start, 1)
            args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
