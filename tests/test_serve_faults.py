"""Faults of the running service: `cvae-serve` as a process on 127.0.0.1, stopped or damaged from outside.

SIGTERM with requests in flight: every one of them is answered, then the process exits cleanly. Under
--workers 2, a worker killed outright is replaced and the service keeps answering.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from benchmarks.serving_servers import HOST, Server, free_port, serve

SERVE = Path(sys.executable).parent / "cvae-serve"


@contextmanager
def cvae_serve(workdir: Path, *options: str) -> Iterator[Server]:
    """cvae-serve with the shipped models on a free port of 127.0.0.1, ready; stopped afterwards. Its output
    goes to workdir/cvae-serve.log."""
    port = free_port()
    command = [str(SERVE), "--host", HOST, "--port", str(port), *options]
    env = {"CVAE_LOG_LEVEL": "warning", "CVAE_DEVICE": "cpu"}
    with serve("cvae-serve", command, port, "/readyz", workdir, env) as server:
        yield server


def _sample(url: str, n: int, seed: int) -> int:
    body = json.dumps({"digit": 3, "n": n, "seed": seed}).encode()
    request = urllib.request.Request(f"{url}/v1/sample", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert len(json.loads(response.read())["images"]) == n
        return response.status


def test_sigterm_answers_the_requests_in_flight_then_exits_cleanly(tmp_path: Path) -> None:
    with cvae_serve(tmp_path) as server, ThreadPoolExecutor(8) as pool:
        in_flight = [pool.submit(_sample, server.url, 256, seed) for seed in range(8)]
        time.sleep(0.3)  # the requests have reached the server; most are still queued for the model
        server.process.send_signal(signal.SIGTERM)
        assert [future.result(timeout=120) for future in in_flight] == [200] * 8
        # uvicorn shuts down gracefully, then raises the signal it caught again, so that the exit status
        # tells what stopped the process.
        assert server.process.wait(60) in (0, -signal.SIGTERM)
    assert "Traceback" not in (tmp_path / "cvae-serve.log").read_text()


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes under `pid` (not multiprocessing's resource tracker, also a child)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(child) for child in path.read_text().split()] if path.exists() else []
    return [child for child in children if b"spawn_main" in _cmdline(child)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return b""


def test_a_killed_worker_is_replaced_and_the_service_keeps_answering(tmp_path: Path) -> None:
    with cvae_serve(tmp_path, "--workers", "2") as server:
        deadline = time.monotonic() + 60
        while len(workers := _workers(server.process.pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.2)
        os.kill(workers[0], signal.SIGKILL)
        assert all(_sample(server.url, 4, seed) == 200 for seed in range(20))  # the other worker answers
        while not (set(_workers(server.process.pid)) - set(workers)):
            assert time.monotonic() < deadline + 60, "the killed worker was not replaced"
            time.sleep(0.2)
        assert server.process.poll() is None
