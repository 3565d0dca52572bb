"""Faults of the running service: `cvae-serve` as a process on 127.0.0.1, stopped or damaged from outside.

SIGTERM with requests in flight: every one of them is answered, then the process exits cleanly. Under
--workers 2, a worker killed outright is replaced and the service keeps answering.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVE = Path(sys.executable).parent / "cvae-serve"


@contextmanager
def cvae_serve(*options: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """cvae-serve with the shipped models on a free port of 127.0.0.1, ready; stopped afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CVAE_LOG_LEVEL": "warning", "CVAE_DEVICE": "cpu"}
    command = [str(SERVE), "--host", "127.0.0.1", "--port", str(port), *options]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not _answers(f"{url}/readyz"):
            assert server.poll() is None and time.monotonic() < deadline, "cvae-serve did not become ready"
            time.sleep(0.2)
        yield server, url
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _sample(url: str, n: int, seed: int) -> int:
    body = json.dumps({"digit": 3, "n": n, "seed": seed}).encode()
    request = urllib.request.Request(f"{url}/v1/sample", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert len(json.loads(response.read())["images"]) == n
        return response.status


def test_sigterm_answers_the_requests_in_flight_then_exits_cleanly() -> None:
    with cvae_serve() as (server, url), ThreadPoolExecutor(8) as pool:
        in_flight = [pool.submit(_sample, url, 256, seed) for seed in range(8)]
        time.sleep(0.3)  # the requests have reached the server; most are still queued for the model
        server.send_signal(signal.SIGTERM)
        assert [future.result(timeout=120) for future in in_flight] == [200] * 8
        # uvicorn shuts down gracefully, then raises the signal it caught again, so that the exit status
        # tells what stopped the process.
        assert server.wait(60) in (0, -signal.SIGTERM)
        assert b"Traceback" not in server.stdout.read()


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


def test_a_killed_worker_is_replaced_and_the_service_keeps_answering() -> None:
    with cvae_serve("--workers", "2") as (server, url):
        deadline = time.monotonic() + 60
        while len(workers := _workers(server.pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.2)
        os.kill(workers[0], signal.SIGKILL)
        assert all(_sample(url, 4, seed) == 200 for seed in range(20))  # the other worker answers
        while not (set(_workers(server.pid)) - set(workers)):
            assert time.monotonic() < deadline + 60, "the killed worker was not replaced"
            time.sleep(0.2)
        assert server.poll() is None
