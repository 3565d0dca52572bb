"""`cvae-serve` with the shipped models as a process on a free port of 127.0.0.1, for the tests that need a
real server (signals, sockets, memory): started as the serving benchmark starts its own."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.serving_servers import HOST, Server, free_port, serve

SERVE = Path(sys.executable).parent / "cvae-serve"


@contextmanager
def cvae_serve(workdir: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Ready when it yields, stopped afterwards; its output goes to workdir/cvae-serve.log. `env` adds
    CVAE_* settings."""
    port = free_port()
    command = [str(SERVE), "--host", HOST, "--port", str(port), *options]
    # Two workers whatever the machine: the supervised path the default takes on two or more CPUs, at a
    # size every machine holds (the default would start one per CPU, 330 MB each).
    settings = {"CVAE_LOG_LEVEL": "warning", "CVAE_DEVICE": "cpu", "CVAE_WORKERS": "2", **(env or {})}
    with serve("cvae-serve", command, port, "/readyz", workdir, settings) as server:
        yield server
