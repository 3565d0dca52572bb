"""Faults of the running service: `cvae-serve` as a process on 127.0.0.1, stopped or damaged from outside.

SIGTERM with requests in flight: every one of them is answered, then the process exits cleanly. Under
--workers 2, a worker killed outright is replaced and the service keeps answering.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from live_server import cvae_serve
from robustness import Recorder


def _sample(url: str, n: int, seed: int) -> int:
    body = json.dumps({"digit": 3, "n": n, "seed": seed}).encode()
    request = urllib.request.Request(f"{url}/v1/sample", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert len(json.loads(response.read())["images"]) == n
        return response.status


def test_sigterm_answers_the_requests_in_flight_then_exits_cleanly(
    tmp_path: Path, robustness: Recorder
) -> None:
    with cvae_serve(tmp_path) as server, ThreadPoolExecutor(8) as pool:
        in_flight = [pool.submit(_sample, server.url, 256, seed) for seed in range(8)]
        time.sleep(0.3)  # the requests have reached the server; most are still queued for the model
        server.process.send_signal(signal.SIGTERM)
        statuses = [future.result(timeout=120) for future in in_flight]
        assert statuses == [200] * 8
        # uvicorn shuts down gracefully, then raises the signal it caught again, so that the exit status
        # tells what stopped the process.
        exit_status = server.process.wait(60)
        assert exit_status in (0, -signal.SIGTERM)
    assert "Traceback" not in (tmp_path / "cvae-serve.log").read_text()
    robustness.record(
        sent="SIGTERM to cvae-serve 0.3 s after 8 concurrent /v1/sample requests of 256 images each",
        count=len(statuses),
        came_back=f"{statuses.count(200)}x 200 with 256 images each, then exit status {exit_status}, "
        "no traceback in the log",
    )


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


def test_a_killed_worker_is_replaced_and_the_service_keeps_answering(
    tmp_path: Path, robustness: Recorder
) -> None:
    with cvae_serve(tmp_path, "--workers", "2") as server:
        deadline = time.monotonic() + 60
        while len(workers := _workers(server.process.pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.2)
        os.kill(workers[0], signal.SIGKILL)
        statuses = [_sample(server.url, 4, seed) for seed in range(20)]
        assert statuses == [200] * 20  # the other worker answers
        while not (set(_workers(server.process.pid)) - set(workers)):
            assert time.monotonic() < deadline + 60, "the killed worker was not replaced"
            time.sleep(0.2)
        assert server.process.poll() is None
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as response:
            metrics = response.read().decode()
    # Whichever worker a scrape reaches, it reports every worker's requests, the killed one's included.
    assert 'cvae_http_requests_total{method="POST",route="/v1/sample",status="200"} 20.0' in metrics
    robustness.record(
        sent="SIGKILL to one of the two workers of `cvae-serve --workers 2`, then 20 /v1/sample requests",
        count=len(statuses),
        came_back=f"{statuses.count(200)}x 200 from the other worker; the killed one was replaced, "
        "the service never stopped",
    )
