"""The peers in our benchmark (`make bench-peers`): cvae-serve as shipped beside LitServe and BentoML serving
the same networks, measured with wrk for the same POST /v1/sample requests.

Why side by side: a user choosing a server compares frameworks on one machine, so the ratios are taken in
one run, the servers in interleaved rounds (one at a time, started fresh each round, the order rotated) and
each figure the median of the rounds. Before any load, every server's answers to a handful of requests,
sent one by one and then all at once (so they share batches), must equal cvae-serve's: the same JSON, the
same PNG bytes. This driver runs in .venv (it needs only wrk and HTTP); the peers run in .venv-peers.

Only 127.0.0.1, against servers this script starts and stops. The full run takes about 7 minutes;
`--quick` (one round of 2 s runs) must be given `--out-dir`, so that it never replaces the committed
figures. Writes benchmarks/results/peers.json and docs/peers.md (benchmarks/peers/report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.peers import config
from benchmarks.peers.answers import AnswerMismatchError, check_answers, reference_answers
from benchmarks.peers.report import write_report
from benchmarks.peers.summary import medians, ratios
from benchmarks.serving import machine_info, other_load
from benchmarks.serving_requests import json_request
from benchmarks.serving_servers import HOST, REPO, Server, free_port, process_tree, serve
from benchmarks.wrk import Request, run_wrk, wrk_binary

RESULTS = REPO / "benchmarks" / "results" / "peers.json"
REPORT = REPO / "docs" / "peers.md"
PEERS_VENV = REPO / ".venv-peers"
SHARED_PACKAGES = ("torch", "fastapi", "uvicorn")  # in both venvs: versions recorded for each


@dataclass(frozen=True)
class Profile:
    """How many rounds and how long each wrk run; `quick` is the same code in about a minute."""

    name: str
    rounds: int = 3
    duration_s: int = 6
    warmup_s: int = 2  # a discarded run before each measured one, at its concurrency


FULL = Profile(name="full")
QUICK = Profile(name="quick", rounds=1, duration_s=2, warmup_s=1)


@dataclass(frozen=True)
class Case:
    """One load: POST /v1/sample for n images of a 7 (seed 1), over `connections` keep-alive connections."""

    key: str
    n: int
    connections: int

    def request(self) -> Request:
        return json_request("/v1/sample", {"label": 7, "n": self.n, "seed": 1})


CASES = (Case("n1_c1", 1, 1), Case("n1_c16", 1, 16), Case("n1_c64", 1, 64), Case("n64_c16", 64, 16))


@dataclass(frozen=True)
class Contender:
    """A server under test: how to start it on a port, where it says it is ready, and whether its process
    tree ever goes idle (LitServe's workers poll their queues every millisecond, so waiting for that would
    only time out)."""

    name: str
    command: list[str]
    ready_path: str
    goes_idle: bool = True
    env: dict[str, str] = field(default_factory=dict)


def contenders(peers_venv: Path, workdir: Path) -> list[Contender]:
    """cvae-serve first: its answers, the first time it starts, are the reference for everyone's."""
    peers_python = str(peers_venv / "bin" / "python")
    return [
        Contender("cvae-serve", [str(Path(sys.executable).parent / "cvae-serve")], "/readyz"),
        Contender(
            "LitServe", [peers_python, "-m", "benchmarks.peers.litserve_server"], "/health", goes_idle=False
        ),
        Contender(
            "BentoML",
            [str(peers_venv / "bin" / "bentoml"), "serve", "benchmarks.peers.bentoml_service:Front"],
            "/readyz",
            env={"BENTOML_HOME": str(workdir / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"},
        ),
    ]


@dataclass
class Bench:
    profile: Profile
    workdir: Path
    started: float = field(default_factory=time.perf_counter)

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:5.0f} s] {message}", flush=True)


def settle(server: Server, contender: Contender) -> None:
    """Until the previous load's requests are answered."""
    if contender.goes_idle:
        server.wait_idle(timeout_s=10)
    else:
        time.sleep(0.5)


def measure_case(bench: Bench, server: Server, contender: Contender, case: Case) -> dict[str, Any]:
    request = case.request()
    if bench.profile.warmup_s:
        run_wrk(server.url, request, case.connections, bench.profile.warmup_s, bench.workdir)
    settle(server, contender)
    with other_load([server]) as load:
        result = run_wrk(server.url, request, case.connections, bench.profile.duration_s, bench.workdir)
    bench.log(f"{contender.name} {case.key}: {result.summary()}, other load {load['other_cpu_percent']}%")
    return result.as_dict() | {"images_per_s": round(case.n * result.requests_per_s, 1)} | load


def measure(bench: Bench, contender: Contender, references: dict[Any, Any]) -> dict[str, Any]:
    """One server started, its answers checked (or, the first time for cvae-serve, recorded as the
    reference), every case measured; its memory after them, then stopped."""
    port = free_port()
    command = [*contender.command, "--host", HOST, "--port", str(port)]
    settle_s = 60.0 if contender.goes_idle else 0.0
    with serve(
        contender.name, command, port, contender.ready_path, bench.workdir, contender.env, settle_s
    ) as server:
        bench.log(f"{contender.name}: ready in {server.cold_start_s} s")
        if not references:
            references.update(reference_answers(server))
        checked = check_answers(server, references)
        cases = {case.key: measure_case(bench, server, contender, case) for case in CASES}
        settle(server, contender)
        figures = {
            "ready_s": server.cold_start_s,
            "rss_mb": server.rss_mb(),
            "processes": len(process_tree(server.process.pid)),
            "answers_checked": checked,
            "cases": cases,
        }
    bench.log(
        f"{contender.name}: RSS after the run {figures['rss_mb']} MB in {figures['processes']} processes"
    )
    return figures


def versions(peers_venv: Path) -> dict[str, dict[str, str]]:
    """What each side runs; the peers' torch must be cvae-serve's, or the networks are not the same."""
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
    )
    command = [str(peers_venv / "bin" / "python"), "-c", code, "litserve", "bentoml", *SHARED_PACKAGES]
    peers = subprocess.run(command, capture_output=True, text=True, check=True)
    found = {
        "cvae-serve": {name: metadata.version(name) for name in SHARED_PACKAGES},
        "peers": json.loads(peers.stdout),
    }
    if found["peers"]["torch"] != found["cvae-serve"]["torch"]:
        torches = f"{found['peers']['torch']} in .venv-peers, {found['cvae-serve']['torch']} in .venv"
        raise SystemExit(f"bench-peers: the peers must run cvae-serve's torch: {torches}")
    return found


def run_rounds(bench: Bench, peers_venv: Path) -> list[dict[str, Any]]:
    """Each round every server in turn, the order rotated by one each round (cvae-serve first in the first,
    where its answers become the reference)."""
    servers = contenders(peers_venv, bench.workdir)
    references: dict[Any, Any] = {}
    rounds = []
    for index in range(bench.profile.rounds):
        order = servers[index % len(servers) :] + servers[: index % len(servers)]
        bench.log(f"round {index + 1} of {bench.profile.rounds}: {', '.join(c.name for c in order)}")
        figures = {contender.name: measure(bench, contender, references) for contender in order}
        rounds.append(
            {"order": [c.name for c in order], "servers": {c.name: figures[c.name] for c in servers}}
        )
    return rounds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one round of 2 s runs (default: off)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="write peers.json and peers.md here (default: benchmarks/results/, docs/)",
    )
    parser.add_argument("--peers-venv", type=Path, default=PEERS_VENV, help="where LitServe and BentoML are")
    args = parser.parse_args(argv)
    if args.quick and args.out_dir is None:
        parser.error("--quick needs --out-dir: its figures must not replace the committed ones")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not wrk_binary():
        print("bench-peers: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    if not (args.peers_venv / "bin" / "bentoml").exists():
        print(
            f"bench-peers: no LitServe and BentoML in {args.peers_venv}: make bench-peers makes it",
            file=sys.stderr,
        )
        return 2
    os.environ.pop("CVAE_API_KEY", None)  # every server measured without the API key
    profile = QUICK if args.quick else FULL
    json_path, report_path = (
        (args.out_dir / "peers.json", args.out_dir / "peers.md") if args.out_dir else (RESULTS, REPORT)
    )
    results: dict[str, Any] = {
        "benchmark": "peers: cvae-serve, LitServe and BentoML for the same POST /v1/sample requests, wrk",
        "mode": profile.name,
        "profile": asdict(profile),
        "cases": [asdict(case) | {"request": case.request().label} for case in CASES],
        "machine": machine_info(),
        "versions": versions(args.peers_venv),
        "peer_config": config.record(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as workdir:
        bench = Bench(profile, Path(workdir))
        try:
            results["rounds"] = run_rounds(bench, args.peers_venv)
        except AnswerMismatchError as error:
            print(f"bench-peers: {error}", file=sys.stderr)
            return 1
    results["medians"] = medians(results["rounds"])
    results["ratios"] = ratios(results["medians"])
    results["wall_s"] = round(time.perf_counter() - bench.started, 1)
    for path in (json_path, report_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, report_path)
    for ratio in results["ratios"].values():
        verdict = "pass" if ratio["passed"] else "MISS"
        goal = f"{ratio['op']} {ratio['goal']}"
        print(f"{verdict}: {ratio['what']}, cvae-serve / {ratio['best_peer']}: {ratio['value']} ({goal})")
    print(f"wrote {json_path} and {report_path} in {results['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
