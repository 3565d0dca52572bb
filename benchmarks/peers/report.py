"""docs/peers.md as a pure function of benchmarks/results/peers.json.

`python -m benchmarks.peers.run` calls write_report after each run; `python -m benchmarks.peers.report`
redraws the page from a saved JSON without measuring anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CASE_TITLES = {
    "n1_c1": "n=1, 1 client",
    "n1_c16": "n=1, 16 clients",
    "n1_c64": "n=1, 64 clients",
    "n64_c16": "n=64, 16 clients",
}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _number(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _intro(results: dict[str, Any]) -> str:
    profile = results["profile"]
    text = (
        "# The peers: cvae-serve beside LitServe and BentoML\n\n"
        "Generated from `benchmarks/results/peers.json` by `python -m benchmarks.peers.run` "
        f"({_number(results['wall_s'])} s). Rerun with `make bench-peers` (needs `wrk`: `apt-get install "
        "wrk`; it makes `.venv-peers` for the peers first); it starts its own servers on free ports of "
        "127.0.0.1 and rewrites this page and the JSON.\n\n"
        'Every server answers the same `POST /v1/sample` body `{"label", "n", "seed"}` with the same '
        "JSON: the peers run the project's own checkpoint, blockwise channels-last decoder, seeded draws and "
        "PNG encoder (`benchmarks/peers/sampling.py`). Before any load, each server's answers to "
        "a handful of requests (n=1 and n=64, alone and then concurrently, so that they share batches) are "
        "checked equal to cvae-serve's, every PNG byte for byte; a difference stops the run. "
        f"{profile['rounds']} interleaved round(s): in each, every server is started fresh, alone on the "
        "machine, the order rotated by one each round; each case is a discarded wrk run of "
        f"{profile['warmup_s']} s, then a measured one of {profile['duration_s']} s. Figures are the medians "
        "of the rounds; errors are the total of non-2xx answers and socket errors.\n"
    )
    if results["mode"] != "full":
        text += (
            f"\n**A {results['mode']} run: {profile['rounds']} round of {profile['duration_s']} s runs, "
            "for checking the code, not for comparing the servers.**\n"
        )
    return text


def _ratios(results: dict[str, Any]) -> str:
    rows = [
        [
            ratio["what"],
            _number(ratio["value"], 3),
            ratio["best_peer"],
            f"{ratio['op']} {ratio['goal']}",
            "pass" if ratio["passed"] else "**miss**",
        ]
        for ratio in results["ratios"].values()
    ]
    return "\n## cvae-serve to the best peer\n\n" + _table(
        ["figure", "cvae-serve / best peer", "best peer", "goal (issue 25)", ""], rows
    )


def _cases(results: dict[str, Any]) -> str:
    text = "\n## Each case\n"
    for key, title in CASE_TITLES.items():
        rows = [
            [
                name,
                _number(server["cases"][key]["requests_per_s"]),
                _number(server["cases"][key]["images_per_s"]),
                _number(server["cases"][key]["p50_ms"], 2),
                _number(server["cases"][key]["p99_ms"], 2),
                server["cases"][key]["errors"],
                _number(server["cases"][key]["other_cpu_percent"]),
            ]
            for name, server in results["medians"].items()
        ]
        header = ["server", "req/s", "images/s", "p50 ms", "p99 ms", "errors", "other load %"]
        text += f"\n### {title}\n\n" + _table(header, rows)
    return text


def _memory(results: dict[str, Any]) -> str:
    rows = [
        [name, _number(server["rss_mb"]), server["processes"], _number(server["ready_s"], 2)]
        for name, server in results["medians"].items()
    ]
    return (
        "\n## Memory and start\n\nResident memory of the server's whole process tree after its last case; "
        "ready: from spawning it to its first 200 on its readiness path.\n\n"
        + _table(["server", "RSS MB", "processes", "ready in, s"], rows)
    )


def _setup(results: dict[str, Any]) -> str:
    versions, config = results["versions"]["peers"], results["peer_config"]
    workers, batch = config["workers"], config["max_batch"]
    return (
        "\n## How each is served\n\n"
        "- **cvae-serve** as shipped: `.venv/bin/cvae-serve --host 127.0.0.1 --port PORT`, its default "
        "workers and settings, both served models loaded.\n"
        f"- **LitServe** {versions['litserve']} (`benchmarks/peers/litserve_server.py`), as its docs advise "
        f'for CPU: `accelerator="cpu"`, `workers_per_device={workers}`, dynamic batching '
        f"`max_batch_size={batch}` with `batch_timeout={config['litserve_batch_timeout_s']}` s (cvae-serve's "
        "own batch window); everything but HTTP runs in the inference workers. Its idle workers poll their "
        "queues every millisecond, so an idle LitServe still uses some CPU.\n"
        f"- **BentoML** {versions['bentoml']} (`benchmarks/peers/bentoml_service.py`), as its docs advise: "
        f"an API service (`Front`, one worker) that hands each request to a model service (`Decoder`, "
        f"`workers={workers}`, adaptive batching `max_batch_size={batch}`), where everything but HTTP runs. "
        "BentoML's client from one service to the other replaces its connection session every 100 calls by "
        "default (`runner_connection.max_requests`), closing a session that concurrent calls still use (at "
        "16 and 64 clients some answers are then 500s: aiohttp's ServerDisconnectedError in the front); the "
        f"limit is raised to {config['bentoml_session_max_requests']:,}, as a user who met it would.\n"
        f"- In both peers each inference worker runs {config['torch_threads_per_worker']} torch thread(s), "
        "the cores shared out between the workers (neither framework sets it), and only the digits model is "
        "loaded.\n"
    )


def _machine(results: dict[str, Any]) -> str:
    machine, versions = results["machine"], results["versions"]
    commit = machine["git_commit"][:12] + (" (with uncommitted changes)" if machine["git_dirty"] else "")
    rows = [
        ["CPU", machine["cpu"]],
        ["cores", machine["cores"]],
        ["torch (cvae-serve / peers)", f"{versions['cvae-serve']['torch']} / {versions['peers']['torch']}"],
        ["LitServe / BentoML", f"{versions['peers']['litserve']} / {versions['peers']['bentoml']}"],
        [
            "FastAPI, uvicorn (cvae-serve / peers)",
            f"{versions['cvae-serve']['fastapi']}, {versions['cvae-serve']['uvicorn']} / "
            f"{versions['peers']['fastapi']}, {versions['peers']['uvicorn']}",
        ],
        ["Python", machine["python"]],
        ["load generator", f"{machine['wrk']}, min(2, connections) threads"],
        ["date (UTC)", machine["date"]],
        ["commit", commit],
    ]
    return "\n## Machine\n\n" + _table(["", ""], rows)


def _rounds(results: dict[str, Any]) -> str:
    rows = []
    for index, round_ in enumerate(results["rounds"], 1):
        for name in round_["order"]:
            server = round_["servers"][name]
            rows.append(
                [index, name]
                + [_number(server["cases"][key]["requests_per_s"]) for key in CASE_TITLES]
                + [_number(server["rss_mb"]), _number(server["ready_s"], 2)]
            )
    header = ["round", "server", *(f"{title} req/s" for title in CASE_TITLES.values()), "RSS MB", "ready, s"]
    return "\n## Each round, in the order run\n\n" + _table(header, rows)


def write_report(results: dict[str, Any], path: Path) -> None:
    sections = (_intro, _ratios, _cases, _memory, _setup, _machine, _rounds)
    path.write_text("".join(section(results) for section in sections))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "peers.json")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "peers.md")
    args = parser.parse_args()
    write_report(json.loads(args.json.read_text()), args.out)


if __name__ == "__main__":
    main()
