"""docs/benchmarks.md and its latency plot, as a pure function of benchmarks/results/serving.json.

`python -m benchmarks.serving` calls write_report after each run; `python -m benchmarks.serving_report`
redraws both from a saved JSON without measuring anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUSY_PERCENT = 10


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _machine(results: dict[str, Any]) -> str:
    machine, settings = results["machine"], results["settings"]
    env = ", ".join(f"`{key}={value}`" for key, value in settings["env"].items()) or "none set (defaults)"
    resolved = ", ".join(f"{key}={value}" for key, value in settings["resolved"].items())
    commit = machine["git_commit"][:12] + (" (with uncommitted changes)" if machine["git_dirty"] else "")
    rows = [
        ["CPU", machine["cpu"]],
        ["cores", machine["cores"]],
        ["AVX-512 BF16", "yes" if machine["avx512_bf16"] else "no"],
        ["GPU", machine["gpu"] or "none"],
        ["torch / Python", f"{machine['torch']} / {machine['python']}"],
        [
            "load generator",
            f"{machine['wrk']}, {settings['wrk']['threads']} threads, timeout {settings['wrk']['timeout']}",
        ],
        ["date (UTC)", machine["date"]],
        ["commit", commit],
        ["CVAE_* environment", env],
        ["resolved settings", resolved],
        ["extra cvae-serve options", " ".join(settings["server_args"]) or "none"],
    ]
    return _table(["", ""], rows)


def _targets(results: dict[str, Any]) -> str:
    rows = [
        [t["what"], _number(t["value"], 3), f"{t['op']} {t['target']}", "pass" if t["passed"] else "**miss**"]
        for t in results["targets"].values()
    ]
    return _table(["target", "measured", "goal", ""], rows) + _n1_bound(results)


def _n1_bound(results: dict[str, Any]) -> str:
    """Why the n=1 ratio misses, from the figures: the service's own HTTP path bounds it before the model."""
    free, target = results["cpu"].get("model_free"), results["targets"]["ratio_n1"]
    if target["passed"] or not free:
        return ""
    return (
        f"\nThe n=1 ratio is bounded before the model costs anything: the same service with a decoder that "
        f"costs nothing serves {_number(free['sample_n1']['requests_per_s'])} /v1/sample n=1 req/s against "
        f"{_number(free['healthz']['requests_per_s'])} for /healthz, a ratio of "
        f"{_number(free['ratio_n1_over_healthz'], 3)}: parsing and validating the body, "
        "the seeded draw, the PNG and the JSON answer cost a request more than /healthz's whole path. The "
        "decoder then adds about 0.3 ms of CPU an image (one core, float32), which the two cores share with "
        "the event loop and the load generator.\n"
    )


def _runs(value: Any) -> Iterator[dict[str, Any]]:
    """Every measurement in the record that carries an other-load figure."""
    if isinstance(value, dict):
        if "other_cpu_percent" in value:
            yield value
        for item in value.values():
            yield from _runs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _runs(item)


def _other_load(results: dict[str, Any]) -> str:
    """How disturbed the run was: the CPU used outside the benchmark's processes during each measurement."""
    loads = [run["other_cpu_percent"] for run in _runs(results["cpu"])]
    busy = sum(load > BUSY_PERCENT for load in loads)
    return (
        "Other load, the CPU used during a measurement outside the benchmark's own processes (other work on "
        "the machine, interrupts, hypervisor steal) as a share of all cores: median "
        f"{statistics.median(loads)}%, max {max(loads)}% over {len(loads)} measurements; {busy} above "
        f"{BUSY_PERCENT}%, where a figure is disturbed (the decoder reference most of all: its threads wait "
        "on each other).\n"
    )


def _starts(results: dict[str, Any]) -> str:
    cpu, cuda = results["cpu"], results["cuda"]
    rows = [["hello world (uvicorn)", "cpu", 1, cpu["hello_world"]["cold_start_s"], "", ""]]
    servers = [("cvae-serve", cpu["server"])]
    if cpu["workers"]:
        servers.append(("cvae-serve --workers 1", cpu["workers"]["server"]))
    if cuda:
        servers.append(("cvae-serve --device cuda", cuda["server"]))
    for name, server in servers:
        rows.append(
            [
                name,
                server["device"],
                server["workers"],
                server["cold_start_s"],
                server["settled_s"],
                server["rss_mb_after_start"],
            ]
        )
    header = ["server", "device", "workers", "cold start, s", "settled, s", "RSS after start, MB"]
    return _table(header, rows)


def _routes(suite: dict[str, Any]) -> str:
    rows = []
    for name, route in suite["routes"].items():
        for key, run in route.items():
            if key.startswith("c") and isinstance(run, dict):
                rows.append(
                    [
                        f"`{name}`",
                        key,
                        _number(run["requests_per_s"]),
                        _number(run.get("images_per_s")) if "images_per_s" in run else "",
                        _number(run["p50_ms"], 2),
                        _number(run["p99_ms"], 2),
                        run["non_2xx"],
                        run["socket_errors"],
                        run["other_cpu_percent"],
                    ]
                )
    requests = "\n".join(f"- `{name}`: {route['request']}" for name, route in suite["routes"].items())
    header = [
        "route",
        "conns",
        "req/s",
        "images/s",
        "p50, ms",
        "p99, ms",
        "non-2xx",
        "socket errors",
        "other load, %",
    ]
    return _table(header, rows) + "\n" + requests + "\n"


def _references(suite: dict[str, Any], reference: int) -> str:
    in_process, ratios = suite["in_process"], suite["ratios"]
    before, after = in_process["before"], in_process["after"]
    rows = [
        [
            f"in-process decoder, batch {in_process['batch']}, {in_process['threads']} threads, images/s "
            "(before / after the n=64 load; other load, %)",
            f"{_number(before['images_per_s'])} / {_number(after['images_per_s'])}, "
            f"mean {_number(in_process['images_per_s'])} "
            f"({before['other_cpu_percent']} / {after['other_cpu_percent']})",
        ],
    ]
    hello = suite.get("hello_world")
    if hello:
        rows.append([f"hello world, c{reference}, req/s", _number(hello[f"c{reference}"]["requests_per_s"])])
    free = suite.get("model_free")
    if free:
        rows.append(
            [
                f"the service with a decoder that costs nothing, c{reference}: sample n=1 / healthz, req/s",
                f"{_number(free['sample_n1']['requests_per_s'])} / "
                f"{_number(free['healthz']['requests_per_s'])} = {_number(free['ratio_n1_over_healthz'], 3)}",
            ]
        )
    rows += [[f"ratio `{key}`", _number(value, 3)] for key, value in ratios.items()]
    return _table(["reference", "figure"], rows)


def _latency_vs_n(rows: list[dict[str, Any]], plot_link: str) -> str:
    table = _table(
        ["n", "req/s", "images/s", "p50, ms", "p99, ms"],
        [
            [
                r["n"],
                _number(r["requests_per_s"]),
                _number(r["images_per_s"]),
                _number(r["p50_ms"], 2),
                _number(r["p99_ms"], 2),
            ]
            for r in rows
        ],
    )
    return f"{table}\n![latency against n]({plot_link})\n"


def _batching(batching: dict[str, Any]) -> str:
    env = ", ".join(f"`{k}={v}`" for k, v in batching["env"].items())
    known = {True: "yes", False: "no (the server ignores it)", None: "unknown"}[batching["setting_known"]]
    if not batching["started"]:
        error = batching["error"]
        return f"The server with {env} did not start (known to `Settings`: {known}):\n\n```\n{error}\n```\n"
    rows = [
        ["batching on (default)", _number(batching["p50_ms_on"], 3)],
        [f"batching off ({env})", _number(batching["p50_ms_off"], 3)],
        ["ratio on / off", _number(batching["ratio_on_over_off"], 3)],
    ]
    rounds = len(batching["runs"]["on"])
    note = f"Setting known to `Settings`: {known}; median of {rounds} interleaved c1 runs each.\n"
    return _table(["POST /v1/sample n=1, one client", "p50, ms"], rows) + "\n" + note


def _memory(memory: dict[str, Any]) -> str:
    rows: list[list[Any]] = [["after start", "", "", "", "", "", memory["rss_mb_before"]]]
    for i, phase in enumerate(memory["phases"], 1):
        statuses = ", ".join(f"{status}: {count:,}" for status, count in phase["statuses"].items())
        rows.append(
            [
                f"after phase {i}",
                f"{phase['requests']:,}",
                phase["wall_s"],
                statuses,
                phase["unexpected"],
                phase["other_cpu_percent"],
                phase["rss_mb_after"],
            ]
        )
    if "rss_mb_after_routes" in memory:
        rows.append(
            [
                "after the routes' load (1 MB photos at c64 included)",
                "",
                "",
                "",
                "",
                "",
                memory["rss_mb_after_routes"],
            ]
        )
    header = ["", "requests", "wall, s", "statuses", "unexpected", "other load, %", "RSS, MB"]
    mix = "\n".join(f"- {item}" for item in memory["mix"])
    return (
        f"{_table(header, rows)}\nGrowth over phase 2: {_number(memory['rss_growth_percent'], 2)}%. "
        "Unexpected: a status other than the one each request must get, or a socket error. "
        f"{memory['connections']} connections; the requests, sent in turn:\n\n{mix}\n"
    )


def _workers(workers: dict[str, Any] | None) -> str:
    if workers is None:
        return "Not run in this mode.\n"
    rows = [
        [
            f"`{name}`",
            _number(workers[name]["default_requests_per_s"]),
            _number(workers[name]["workers_1_requests_per_s"]),
            _number(workers[name]["ratio_default_over_1"], 3),
        ]
        for name in ("healthz", "sample_n1", "sample_n64")
    ]
    header = [
        f"route, c{workers['connections']}",
        f"default ({workers['default_workers']} workers), req/s",
        "1 worker, req/s",
        "ratio",
    ]
    return _table(header, rows)


def render_markdown(results: dict[str, Any], plot_link: str) -> str:
    """The whole page; every figure on it comes from `results`."""
    profile, cpu, cuda = results["profile"], results["cpu"], results["cuda"]
    reference = profile["reference_connections"]
    sections = [
        "# Serving benchmarks\n",
        f"Generated from `benchmarks/results/serving.json` by one {results['mode']} run of "
        f"`python -m benchmarks.serving` ({results['wall_s']} s). Rerun with `make bench-serve` (needs "
        "`wrk`: `apt-get install wrk`); it starts its own servers on free ports of 127.0.0.1 and rewrites "
        "this page, the JSON and the plot. `python -m benchmarks.serving --smoke --out-dir DIR` runs the "
        f"same code in seconds. Each wrk run lasts {profile['duration_s']} s with `--latency`; the figures "
        "are noisy on a shared machine.\n",
        "The peers, LitServe and BentoML serving the same networks for the same requests: "
        "[peers.md](peers.md) (`make bench-peers`).\n",
        "## Machine and settings\n",
        _machine(results),
        "## Targets\n",
        _targets(results),
        _other_load(results),
        "## Start-up\n",
        "Cold start: from spawning the process to the first 200 on `/readyz`; settled: until the process and "
        "its workers are idle. RSS is summed over the process and its children.\n",
        _starts(results),
        "## Throughput and latency per route (CPU)\n",
        _routes(cpu),
        "## References and ratios (CPU)\n",
        "The HTTP floor is a FastAPI app with one `async def` route on plain uvicorn (log level warning); "
        "the decoder runs `torch.sigmoid(model.decode(z, y))` under `inference_mode` in a process of its own "
        "with one torch thread per core, best of three timed runs, while the server is idle. Ratios at "
        f"c{reference}.\n",
        _references(cpu, reference),
        "## Latency against n (one client)\n",
        _latency_vs_n(cpu["latency_vs_n"], plot_link),
        "## Batching for a lone client\n",
        _batching(cpu["batching"]),
        "## Memory under mixed load\n",
        _memory(cpu["memory"]),
        "## Workers: the default against one\n",
        _workers(cpu["workers"]),
        "## CUDA\n",
    ]
    if cuda:
        sections += [f"{cuda['gpu']}.\n", _routes(cuda), _references(cuda, reference)]
    else:
        sections.append(
            "No GPU on this machine; with one, the same routes are measured on `--device cuda` here.\n"
        )
    return "\n".join(sections)


def plot_latency_vs_n(results: dict[str, Any], path: Path) -> None:
    """p50 and p99 of POST /v1/sample against n for one client, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["cpu"]["latency_vs_n"]
    ns = [row["n"] for row in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        ax.plot(ns, [row[key] for row in rows], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_yscale("log")
    ax.set_xlabel("n (images per request)")
    ax.set_ylabel("latency, ms")
    ax.set_title(f"POST /v1/sample, one client, CPU ({results['machine']['cores']} cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_report(results: dict[str, Any], markdown_path: Path, plot_path: Path) -> None:
    plot_latency_vs_n(results, plot_path)
    plot_link = os.path.relpath(plot_path, markdown_path.parent)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(render_markdown(results, plot_link))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "results",
        nargs="?",
        type=Path,
        default=REPO / "benchmarks/results/serving.json",
        help="the JSON to render",
    )
    parser.add_argument(
        "--out-dir", type=Path, default=REPO / "docs", help="where the page and plot go (default: docs)"
    )
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    write_report(results, args.out_dir / "benchmarks.md", args.out_dir / "serving-latency-vs-n.png")


if __name__ == "__main__":
    main()
