"""The served API under load (`make bench-serve`), measured with wrk against two references in the same run.

What serving costs shows as ratios to references measured on the same machine minutes apart: the HTTP
floor (a hello-world FastAPI route on plain uvicorn) and the bare decoder in a process of its own. Beside
them: latency against n for a lone client, what batching costs that client, memory under a long mixed load,
the default workers (one per usable CPU) against one, and the same routes on CUDA where a GPU is present.

Only 127.0.0.1, against servers this script starts and stops. The full run takes a few minutes; `--smoke`
runs the same code with tiny durations (the test suite's check) and must be given `--out-dir`, so that it
never replaces the committed figures. Writes benchmarks/results/serving.json, then docs/benchmarks.md and
docs/serving-latency-vs-n.png from it (benchmarks/serving_report.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import operator
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.machine import cpu_name
from benchmarks.serving_report import write_report
from benchmarks.serving_requests import mixed_requests, photo_jpeg, sample_request, throughput_routes
from benchmarks.serving_servers import HOST, REPO, Server, ServerStartError, free_port, serve
from benchmarks.wrk import (
    WRK_THREADS,
    WRK_TIMEOUT,
    Request,
    drive_requests,
    run_wrk,
    wrk_binary,
    wrk_version,
)

RESULTS = REPO / "benchmarks" / "results" / "serving.json"
DOCS = REPO / "docs"
Routes = dict[str, tuple[Request, int]]


@dataclass(frozen=True)
class Profile:
    """How long and how hard each measurement runs. The defaults are the full run's; `smoke` is the same
    code path in seconds."""

    name: str
    duration_s: int = 5  # each wrk run
    concurrencies: tuple[int, ...] = (1, 16, 64)
    reference_connections: int = 16  # where the ratios are taken
    warmup_s: int = 1  # a discarded wrk run before each route's measurements; 0: none
    latency_ns: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    latency_duration_s: int = 3
    memory_requests: int = 20_000  # per phase; two phases
    memory_connections: int = 32
    batching_rounds: int = 3  # interleaved c1 runs on each of the batching on/off servers; 0: not run
    one_worker: bool = True  # the default's workers against `--workers 1`
    in_process_run_s: float = 1.0  # each of the decoder's three timed runs


FULL = Profile(name="full")
SMOKE = Profile(
    name="smoke",
    duration_s=1,
    concurrencies=(1, 4),
    reference_connections=4,
    warmup_s=0,
    latency_ns=(1, 256),
    latency_duration_s=1,
    memory_requests=200,
    memory_connections=8,
    batching_rounds=1,
    one_worker=False,
    in_process_run_s=0.2,
)


@dataclass
class Bench:
    """What every measurement needs: the profile, a scratch directory, and the options for cvae-serve."""

    profile: Profile
    workdir: Path
    server_args: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:5.0f} s] {message}", flush=True)

    def measure(
        self, label: str, server: Server, request: Request, connections: int, duration_s: int = 0
    ) -> dict[str, Any]:
        """One wrk run, started once the server has finished the requests of the previous one."""
        server.wait_idle()
        with other_load([server]) as load:
            result = run_wrk(
                server.url, request, connections, duration_s or self.profile.duration_s, self.workdir
            )
        self.log(f"{label} c{connections}: {result.summary()}, other load {load['other_cpu_percent']}%")
        return result.as_dict() | load

    def warm_up(self, server: Server, request: Request) -> None:
        if self.profile.warmup_s:
            connections = max(self.profile.concurrencies)
            run_wrk(server.url, request, connections, self.profile.warmup_s, self.workdir)


def _machine_busy_s() -> float:
    """CPU seconds used on the machine since boot, hypervisor steal included (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _benchmark_cpu_s(servers: list[Server]) -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage) + sum(server.cpu_s() for server in servers)


@contextmanager
def other_load(servers: list[Server]) -> Iterator[dict[str, float]]:
    """Sets `other_cpu_percent`: the CPU used meanwhile outside this benchmark, its children and `servers`
    (other work on the machine, interrupts, steal), as a share of all cores: how disturbed a figure is."""
    load: dict[str, float] = {}
    start, busy, ours = time.perf_counter(), _machine_busy_s(), _benchmark_cpu_s(servers)
    yield load
    other = (_machine_busy_s() - busy) - (_benchmark_cpu_s(servers) - ours)
    share = other / ((time.perf_counter() - start) * (os.cpu_count() or 1))
    load["other_cpu_percent"] = round(max(0.0, 100 * share), 1)


def cvae_serve(
    bench: Bench, name: str, device: str, workers: int | None = None, env: dict[str, str] | None = None
) -> AbstractContextManager[Server]:
    """`cvae-serve` of this environment (beside sys.executable) on a free port, with the extra options;
    its default workers unless `workers` is given."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "cvae-serve"), "--host", HOST, "--port", str(port)]
    command += ["--device", device, *bench.server_args]
    if workers is not None:
        command += ["--workers", str(workers)]
    return serve(name, command, port, "/readyz", bench.workdir, env)


def default_workers() -> int:
    """The workers cvae-serve starts here without --workers: CVAE_WORKERS, else one per usable CPU."""
    from app.settings import Settings

    return Settings().workers_to_start()


def start_figures(bench: Bench, server: Server, workers: int) -> dict[str, Any]:
    figures = {
        "device": server.get_json("/v1/model")["device"],  # the resolved device, as the server reports it
        "workers": workers,
        "cold_start_s": server.cold_start_s,
        "settled_s": server.settled_s,  # until every worker is loaded and the tree idle
        "rss_mb_after_start": server.rss_mb(),
    }
    bench.log(
        f"{server.name} on {figures['device']}: cold start {server.cold_start_s} s, "
        f"settled {server.settled_s} s, RSS {figures['rss_mb_after_start']} MB"
    )
    return figures


# ---- measurements -----------------------------------------------------------------------------------------


def decoder_images_per_s(device: str, run_s: float, batch: int = 64, runs: int = 3) -> float:
    """The bare decoder's images/s at `batch`, best of `runs`: what serving n=64 could reach without HTTP."""
    import torch

    from app.settings import Settings
    from model.checkpoint import load_checkpoint

    torch.set_num_threads(os.cpu_count() or 1)
    model = load_checkpoint(Settings().checkpoint, "cvae", device).model.eval()
    z = torch.randn(batch, model.cfg.latent_dim, device=device)
    y = torch.full((batch,), 7, device=device)
    best = 0.0
    with torch.inference_mode():
        for run in range(runs + 1):  # the first is a warm-up
            count, start, elapsed = 0, time.perf_counter(), 0.0
            while elapsed < run_s:
                torch.sigmoid(model.decode(z, y))
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                count, elapsed = count + 1, time.perf_counter() - start
            if run:
                best = max(best, count * batch / elapsed)
    return best


def decoder_reference(bench: Bench, server: Server, device: str) -> dict[str, float]:
    """decoder_images_per_s in a fresh process, while the server is idle: no thread competes with it."""
    server.wait_idle()
    code = "import sys; from benchmarks.serving import decoder_images_per_s as f; "
    code += "print(f(sys.argv[1], float(sys.argv[2])))"
    args = [sys.executable, "-c", code, device, str(bench.profile.in_process_run_s)]
    with other_load([server]) as load:
        run = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=True)
    value = float(run.stdout.split()[-1])
    bench.log(
        f"in-process decoder ({device}), batch 64: {value:.0f} images/s, "
        f"other load {load['other_cpu_percent']}%"
    )
    return {"images_per_s": round(value, 1), **load}


def measure_route(bench: Bench, server: Server, name: str, request: Request, images: int) -> dict[str, Any]:
    bench.warm_up(server, request)
    figures: dict[str, Any] = {"request": request.label, "images_per_request": images}
    for connections in bench.profile.concurrencies:
        run = bench.measure(name, server, request, connections)
        if images > 1:
            run["images_per_s"] = round(images * run["requests_per_s"], 1)
        figures[f"c{connections}"] = run
    return figures


def measure_routes(
    bench: Bench, server: Server, routes: Routes, device: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each route at each concurrency; the decoder reference just before and just after the n=64 load."""
    figures = {
        name: measure_route(bench, server, name, *routes[name]) for name in routes if name != "sample_n64"
    }
    before = decoder_reference(bench, server, device)
    figures["sample_n64"] = measure_route(bench, server, "sample_n64", *routes["sample_n64"])
    after = decoder_reference(bench, server, device)
    in_process = {
        "batch": 64,
        "threads": os.cpu_count(),
        "before": before,
        "after": after,
        "images_per_s": round((before["images_per_s"] + after["images_per_s"]) / 2, 1),
    }
    return {name: figures[name] for name in routes}, in_process


def serve_factory(bench: Bench, name: str, factory: str, ready_path: str) -> AbstractContextManager[Server]:
    """An app factory of benchmarks/serving_servers.py under plain uvicorn on a free port, ready."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", f"benchmarks.serving_servers:{factory}"]
    command += ["--host", HOST, "--port", str(port), "--log-level", "warning"]
    return serve(name, command, port, ready_path, bench.workdir)


def measure_hello_world(bench: Bench) -> dict[str, Any]:
    with serve_factory(bench, "hello-world", "hello_world_app", "/") as server:
        request = Request("GET", "/", label="GET / (async def, returns {'status': 'ok'})")
        bench.warm_up(server, request)
        connections = bench.profile.reference_connections
        return {
            "request": request.label,
            "cold_start_s": server.cold_start_s,
            f"c{connections}": bench.measure("hello world", server, request, connections),
        }


def measure_model_free(bench: Bench) -> dict[str, Any]:
    """/healthz and /v1/sample n=1 of the service with a decoder that costs nothing (model_free_app)."""
    connections = bench.profile.reference_connections
    with serve_factory(bench, "model-free", "model_free_app", "/readyz") as server:
        figures = {}
        for name, request in (
            ("healthz", Request("GET", "/healthz", label="GET /healthz")),
            ("sample_n1", sample_request(1)),
        ):
            bench.warm_up(server, request)
            figures[name] = bench.measure(f"model-free: {name}", server, request, connections)
    figures["ratio_n1_over_healthz"] = _ratio(
        figures["sample_n1"]["requests_per_s"], figures["healthz"]["requests_per_s"]
    )
    return figures


def measure_latency_vs_n(bench: Bench, server: Server) -> list[dict[str, Any]]:
    """One client, POST /v1/sample for growing n: where the time per request goes from fixed to per-image."""
    rows = []
    for n in bench.profile.latency_ns:
        run = bench.measure(f"sample n={n}", server, sample_request(n), 1, bench.profile.latency_duration_s)
        rows.append({"n": n, **run, "images_per_s": round(n * run["requests_per_s"], 1)})
    return rows


def _setting_known(name: str) -> bool | None:
    try:
        from app.settings import Settings
    except ImportError:
        return None
    return name in Settings.model_fields


def measure_batching(bench: Bench) -> dict[str, Any]:
    """A lone client's p50 on two fresh servers, batching on and off, runs interleaved. Fresh both: a server
    that has just served the heavy loads answers a lone client about 10% slower for a while, either way."""
    env = {"CVAE_BATCHING": "false"}
    figures: dict[str, Any] = {"env": env, "setting_known": _setting_known("batching")}
    request = sample_request(1)
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    try:
        with (
            cvae_serve(bench, "batching-on", "cpu") as on,
            cvae_serve(bench, "batching-off", "cpu", env=env) as off,
        ):
            figures["cold_start_s"] = off.cold_start_s
            for _ in range(bench.profile.batching_rounds):
                runs["on"].append(bench.measure("batching on: sample n=1", on, request, 1))
                runs["off"].append(bench.measure("batching off: sample n=1", off, request, 1))
    except ServerStartError as e:
        bench.log(f"batching off: the server did not start: {e}")
        return {**figures, "started": False, "error": str(e)}
    p50 = {key: statistics.median(run["p50_ms"] for run in value) for key, value in runs.items()}
    return {
        **figures,
        "started": True,
        "p50_ms_on": p50["on"],
        "p50_ms_off": p50["off"],
        "ratio_on_over_off": _ratio(p50["on"], p50["off"]),
        "runs": runs,
    }


def measure_memory(bench: Bench, server: Server, latent_dim: int) -> dict[str, Any]:
    """RSS before and after two equal phases of mixed requests: the first sets the level, the next growth."""
    mix = mixed_requests(latent_dim)
    requests = [request for request, _ in mix]
    expected = {str(status) for _, status in mix}
    total, connections = bench.profile.memory_requests, bench.profile.memory_connections
    figures: dict[str, Any] = {
        "requests_per_phase": total,
        "connections": connections,
        "mix": [f"{request.label} -> {status}" for request, status in mix],
        "rss_mb_before": server.rss_mb(),
        "phases": [],
    }
    rate = None  # requests/s: measured in phase 1, then sizes phase 2's wrk run
    for phase in (1, 2):
        with other_load([server]) as load:
            result = drive_requests(
                server.url, requests, total, connections, bench.workdir, bench.profile.duration_s, rate
            )
        result |= load
        rate = result["rate"]
        server.wait_idle()
        unexpected = sum(n for status, n in result["statuses"].items() if status not in expected)
        result |= {"unexpected": unexpected + result["socket_errors"], "rss_mb_after": server.rss_mb()}
        bench.log(
            f"mixed phase {phase}: {result['requests']} requests in {result['wall_s']} s, statuses "
            f"{result['statuses']}, RSS {result['rss_mb_after']} MB, other load {load['other_cpu_percent']}%"
        )
        figures["phases"].append(result)
    first, second = (phase["rss_mb_after"] for phase in figures["phases"])
    figures |= {
        "rss_mb_after_first": first,
        "rss_mb_after_second": second,
        "rss_growth_percent": round(100 * (second - first) / first, 2),
    }
    return figures


def measure_one_worker(bench: Bench, routes: Routes, default: dict[str, Any], workers: int) -> dict[str, Any]:
    """`--workers 1` against the default's figures at the reference concurrency."""
    connections = bench.profile.reference_connections
    with cvae_serve(bench, "workers-1", "cpu", workers=1) as server:
        figures: dict[str, Any] = {
            "server": start_figures(bench, server, workers=1),
            "connections": connections,
            "default_workers": workers,
        }
        for name in ("healthz", "sample_n1", "sample_n64"):
            request, _ = routes[name]
            bench.warm_up(server, request)
            one = bench.measure(f"1 worker: {name}", server, request, connections)
            many = default[name][f"c{connections}"]["requests_per_s"]
            figures[name] = {
                "workers_1_requests_per_s": one["requests_per_s"],
                "default_requests_per_s": many,
                "ratio_default_over_1": _ratio(many, one["requests_per_s"]),
                "workers_1": one,
            }
    return figures


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def route_ratios(
    routes: dict[str, Any], in_process: dict[str, Any], hello: dict[str, Any] | None, profile: Profile
) -> dict[str, float | None]:
    reference, tail = f"c{profile.reference_connections}", f"c{max(profile.concurrencies)}"
    healthz, n1 = (routes[name][reference]["requests_per_s"] for name in ("healthz", "sample_n1"))
    n64_images = routes["sample_n64"][reference]["images_per_s"]
    ratios = {
        "n1_over_healthz": _ratio(n1, healthz),
        # What an n=1 request would cost if it paid only /healthz's whole path plus the decoder's share of one
        # image as the served n=64 load measures it: the n=1 limit, 1 / (1/healthz + 1/n64 images/s).
        "n1_over_limit": _ratio(n1, 1 / (1 / healthz + 1 / n64_images)) if healthz and n64_images else None,
        "n64_over_in_process": _ratio(
            routes["sample_n64"][reference]["images_per_s"], in_process["images_per_s"]
        ),
        "sample_n1_p99_over_p50": _ratio(
            routes["sample_n1"][tail]["p99_ms"], routes["sample_n1"][tail]["p50_ms"]
        ),
        # What a 4-digit number costs against 4 images from /v1/sample: the time per request, c16.
        "number4_over_sample_n4": _ratio(
            routes["sample_n4"][reference]["requests_per_s"], routes["number_4"][reference]["requests_per_s"]
        ),
        "reconstruct_inferred_over_given_p50": _ratio(
            routes["reconstruct_photo_inferred"]["c1"]["p50_ms"],
            routes["reconstruct_photo_given"]["c1"]["p50_ms"],
        ),
    }
    if hello:
        ratios["healthz_over_hello_world"] = _ratio(
            routes["healthz"][reference]["requests_per_s"], hello[reference]["requests_per_s"]
        )
    return ratios


def measure_cpu(bench: Bench, routes: Routes) -> dict[str, Any]:
    bench.log("CPU server")
    workers = default_workers()
    with cvae_serve(bench, "cpu", "cpu") as server:
        suite: dict[str, Any] = {"server": start_figures(bench, server, workers)}
        latent_dim = server.get_json("/v1/model")["latent_dim"]
        # Memory first, on the fresh server: the mixed load alone sets its level (the target); the
        # routes' 1 MB photo uploads at c64 come after, and the RSS they leave is recorded beside it.
        suite["memory"] = measure_memory(bench, server, latent_dim)
        suite["hello_world"] = measure_hello_world(bench)
        suite["model_free"] = measure_model_free(bench)
        suite["routes"], suite["in_process"] = measure_routes(bench, server, routes, "cpu")
        server.wait_idle()
        suite["memory"]["rss_mb_after_routes"] = server.rss_mb()
        suite["latency_vs_n"] = measure_latency_vs_n(bench, server)
    suite["batching"] = measure_batching(bench)
    suite["workers"] = (
        measure_one_worker(bench, routes, suite["routes"], workers) if bench.profile.one_worker else None
    )
    suite["ratios"] = route_ratios(suite["routes"], suite["in_process"], suite["hello_world"], bench.profile)
    return suite


def measure_cuda(bench: Bench, routes: Routes) -> dict[str, Any] | None:
    """The same routes served from the GPU, when there is one."""
    import torch

    if not torch.cuda.is_available():
        return None
    bench.log(f"CUDA server ({torch.cuda.get_device_name()})")
    with cvae_serve(bench, "cuda", "cuda") as server:
        figures = start_figures(bench, server, default_workers())
        suite: dict[str, Any] = {"gpu": torch.cuda.get_device_name(), "server": figures}
        suite["routes"], suite["in_process"] = measure_routes(bench, server, routes, "cuda")
    suite["ratios"] = route_ratios(suite["routes"], suite["in_process"], None, bench.profile)
    return suite


# ---- the record -------------------------------------------------------------------------------------------

# (key, what is compared, operator, threshold): the targets the project is judged by.
TARGETS = (
    ("ratio_n1", "sample n=1 req/s / healthz req/s, c{c}", "n1_over_healthz", ">=", 0.6),
    (
        "ratio_limit",
        "sample n=1 req/s / the n=1 limit 1 / (1/healthz + 1/n64 images/s), c{c}",
        "n1_over_limit",
        ">=",
        0.75,
    ),
    ("workers", "sample n=1 req/s, default workers / one worker, c{c}", "workers_n1_ratio", ">=", 1.8),
    (
        "ratio_n64",
        "served n=64 images/s / in-process decoder images/s, c{c}",
        "n64_over_in_process",
        ">=",
        0.9,
    ),
    ("ratio_healthz", "healthz req/s / hello-world req/s, c{c}", "healthz_over_hello_world", ">=", 0.6),
    ("tail_n1", "sample n=1 p99 / p50, c{tail}", "sample_n1_p99_over_p50", "<=", 3),
    (
        "reconstruct",
        "reconstruct p50 without digit / with digit, c1",
        "reconstruct_inferred_over_given_p50",
        "<=",
        2,
    ),
    ("lone_client", "sample n=1 p50, c1, batching on / off", "lone_on_over_off_p50", "<=", 1.1),
    ("number", "time per 4-digit /v1/number / per /v1/sample n=4, c{c}", "number4_over_sample_n4", "<=", 2),
    ("cold_start", "cold start, s", "cold_start_s", "<=", 3),
    (
        "rss_first",
        "RSS per worker after the first {n:,} mixed requests, MB",
        "rss_mb_per_worker_after_first",
        "<=",
        400,
    ),
    ("rss_growth", "RSS growth over the next {n:,} mixed requests, %", "rss_growth_percent", "<", 5),
)
_OPERATORS = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


def evaluate_targets(cpu: dict[str, Any], profile: Profile) -> dict[str, dict[str, Any]]:
    figures = {
        **cpu["ratios"],
        **cpu["memory"],
        "lone_on_over_off_p50": cpu["batching"].get("ratio_on_over_off"),
        "cold_start_s": cpu["server"]["cold_start_s"],
        "workers_n1_ratio": cpu["workers"]["sample_n1"]["ratio_default_over_1"] if cpu["workers"] else None,
        "rss_mb_per_worker_after_first": round(
            cpu["memory"]["rss_mb_after_first"] / cpu["server"]["workers"], 1
        ),
    }
    names = {
        "c": profile.reference_connections,
        "tail": max(profile.concurrencies),
        "n": profile.memory_requests,
    }
    return {
        key: {
            "what": what.format(**names),
            "value": figures[figure],
            "op": op,
            "target": threshold,
            "passed": figures[figure] is not None and _OPERATORS[op](figures[figure], threshold),
        }
        for key, what, figure, op, threshold in TARGETS
    }


def _git(*args: str) -> str:
    """git's answer; empty where git or the repository is missing (a copied working tree)."""
    try:
        run = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return ""
    return run.stdout.strip()


def machine_info() -> dict[str, Any]:
    import torch

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "avx512_bf16": bool(torch.cpu._is_avx512_bf16_supported()),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "wrk": wrk_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
    }


def settings_record(bench: Bench) -> dict[str, Any]:
    """The CVAE_* environment every server got, and the settings it resolves to (the API key never shown)."""
    from app.settings import Settings

    return {
        "env": {key: value for key, value in sorted(os.environ.items()) if key.startswith("CVAE_")},
        "resolved": Settings().model_dump(mode="json", exclude={"api_key"}),
        "server_args": bench.server_args,
        "wrk": {"threads": f"min({WRK_THREADS}, connections)", "timeout": WRK_TIMEOUT},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="seconds-long run of the same code (default: off)"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="write serving.json, benchmarks.md and the plot here (default: benchmarks/results/ and docs/)",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra option for cvae-serve, repeatable (default: none)",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="set for every server, repeatable"
    )
    args = parser.parse_args(argv)
    if args.smoke and args.out_dir is None:
        parser.error("--smoke needs --out-dir: its figures must not replace the committed ones")
    if any("=" not in item for item in args.env):
        parser.error("--env takes KEY=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not wrk_binary():
        print("bench-serve: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    # The servers inherit this environment: measured without the API key, with the given settings.
    os.environ.pop("CVAE_API_KEY", None)
    os.environ.update(item.split("=", 1) for item in args.env)
    profile = SMOKE if args.smoke else FULL
    json_path, markdown_path, plot_path = (
        (
            args.out_dir / "serving.json",
            args.out_dir / "benchmarks.md",
            args.out_dir / "serving-latency-vs-n.png",
        )
        if args.out_dir
        else (RESULTS, DOCS / "benchmarks.md", DOCS / "serving-latency-vs-n.png")
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as workdir:
        bench = Bench(profile, Path(workdir), args.server_arg)
        photo = photo_jpeg()
        routes = throughput_routes(photo)
        results: dict[str, Any] = {
            "benchmark": "serving: wrk against cvae-serve, a hello-world app and the bare decoder",
            "mode": profile.name,
            "profile": asdict(profile),
            "machine": machine_info(),
            "settings": settings_record(bench),
            "photo_bytes": len(photo),
        }
        results["cpu"] = measure_cpu(bench, routes)
        results["cuda"] = measure_cuda(bench, routes)
    results["targets"] = evaluate_targets(results["cpu"], profile)
    results["wall_s"] = round(time.perf_counter() - start, 1)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, markdown_path, plot_path)
    for target in results["targets"].values():
        verdict = "pass" if target["passed"] else "MISS"
        print(f"{verdict}: {target['what']}: {target['value']} (target {target['op']} {target['target']})")
    print(f"wrote {json_path}, {markdown_path} and {plot_path} in {results['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
