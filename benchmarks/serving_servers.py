"""The servers under test as child processes: started on a free port, timed until ready, measured, stopped.

Memory and CPU are read from /proc for the process and all its descendants, so `--workers 2` counts both
workers and the parent that spawned them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
# Straight to 127.0.0.1 whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerStartError(RuntimeError):
    """The server exited, or never answered, before it was ready."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (uvicorn's workers are children of the process we started)."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children[int(stat.read_text().rsplit(")", 1)[1].split()[1])].append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children[tree[-1]]
    return tree


def _proc_field(pid: int, read: Callable[[int], float]) -> float:
    """0 for a process that ended between listing and reading it."""
    try:
        return read(pid)
    except (OSError, ValueError, IndexError):
        return 0.0


def status_kib(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of /proc/PID/status in KiB: VmRSS (resident now), VmHWM (its peak), ..."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(f"{field}:"))
    return float(line.split()[1])


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, in MB (10^6 bytes)."""
    kib = sum(_proc_field(p, status_kib) for p in process_tree(pid))
    return round(kib * 1024 / 1e6, 1)


@dataclass
class Server:
    """A started server: its process, its address, and how long it took to be ready and then idle."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    cold_start_s: float = 0.0
    settled_s: float = 0.0

    def rss_mb(self) -> float:
        """Resident memory of the process and its workers, in MB (10^6 bytes)."""
        return tree_rss_mb(self.process.pid)

    def cpu_s(self) -> float:
        return sum(_proc_field(pid, _cpu_s) for pid in process_tree(self.process.pid))

    def wait_idle(self, timeout_s: float = 60.0, window_s: float = 0.1) -> None:
        """Until the process tree uses at most one clock tick of CPU in `window_s`: every worker loaded,
        every request answered."""
        tick = 1 / os.sysconf("SC_CLK_TCK")
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            before = self.cpu_s()
            time.sleep(window_s)
            if self.cpu_s() - before <= 1.5 * tick:
                return

    def get_json(self, path: str) -> Any:
        with _DIRECT.open(self.url + path, timeout=10) as response:
            return json.load(response)

    def post_json(self, path: str, body: Any, timeout_s: float = 60.0) -> Any:
        request = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with _DIRECT.open(request, timeout=timeout_s) as response:
            return json.load(response)


def _log_tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_ready(server: Server, ready_path: str, log_path: Path, timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(
                f"{server.name}: exited with status {server.process.returncode}:\n{_log_tail(log_path)}"
            )
        try:
            with _DIRECT.open(server.url + ready_path, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass  # not listening yet, or 503 while loading
        time.sleep(0.02)
    raise ServerStartError(f"{server.name}: not ready after {timeout_s:.0f} s:\n{_log_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL for the whole tree: a process that outlived its parent (LitServe leaves its API
    servers behind) or one that did not stop within 20 s."""
    descendants = process_tree(process.pid)[1:]
    process.terminate()  # uvicorn shuts down gracefully on SIGTERM, its workers with it
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    process.kill()  # nothing once it has exited
    for pid in descendants:
        with suppress(ProcessLookupError):
            os.kill(pid, 9)
    process.wait()


@contextmanager
def serve(
    name: str,
    command: list[str],
    port: int,
    ready_path: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    settle_timeout_s: float = 60.0,
) -> Iterator[Server]:
    """The server started, ready (cold start: spawn to the first 200 on `ready_path`), idle (at most
    `settle_timeout_s`: 0 for a server that polls while idle); then stopped."""
    log_path = workdir / f"{name}.log"
    start = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env={**os.environ, **(env or {})}, stdout=log, stderr=log
        )
    server = Server(name, process, f"http://{HOST}:{port}")
    try:
        _wait_ready(server, ready_path, log_path, timeout_s=180)
        server.cold_start_s = round(time.perf_counter() - start, 3)
        server.wait_idle(settle_timeout_s)
        server.settled_s = round(time.perf_counter() - start, 3)
        yield server
    finally:
        _stop(process)


def hello_world_app() -> FastAPI:
    """The HTTP floor: one async route and nothing else, what FastAPI on uvicorn costs per request."""
    app = FastAPI()

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"status": "ok"}

    return app


def model_free_app() -> FastAPI:
    """The service itself, but with a decoder that costs nothing (every image black, still PNG-encoded): what
    its own HTTP path (middleware, validation, dependencies, JSON) costs a /v1/sample request. Its n=1 rate
    over its /healthz rate bounds what the real service's ratio can reach."""
    from app.batched import BatchedModels
    from app.main import build_app

    async def free_decode(self: BatchedModels, labels: Any, z: Any, encode: Callable[[Any], Any]) -> Any:
        return encode(np.zeros((len(z), 28, 28), dtype=np.uint8))

    BatchedModels.decode = free_decode  # type: ignore[method-assign]
    return build_app()
