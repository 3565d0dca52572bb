"""`make fuzz`: schemathesis, every check, against the service on 127.0.0.1 with an API key set.

Starts `cvae-serve` on a free port of 127.0.0.1 with CVAE_API_KEY set, waits until it is ready, runs
`st run --checks all` on its /openapi.json with the key (schemathesis also tries requests without it and
with a wrong one: they must get 401), then stops the server. Exits with schemathesis' status.
tests/test_fuzz.py runs a bounded version of the same in `make test`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"cvae-serve exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"cvae-serve not ready in {timeout_s} s")


def fuzz(max_examples: int, seed: int | None = None) -> subprocess.CompletedProcess[str]:
    """Serve, fuzz, stop; schemathesis' output and status."""
    port, key = free_port(), secrets.token_urlsafe(16)
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CVAE_API_KEY": key,
        "CVAE_LOG_LEVEL": "warning",
        "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks",
    }
    server = subprocess.Popen(
        [str(BIN / "cvae-serve"), "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(url, server)
        command = [str(BIN / "st"), "run", f"{url}/openapi.json", "--checks", "all"]
        command += ["--header", f"Authorization: Bearer {key}", "--max-examples", str(max_examples)]
        command += ["--seed", str(seed)] if seed is not None else []
        return subprocess.run(
            command, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
        )
    finally:
        server.terminate()
        server.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100, help="cases per operation (default: 100)")
    parser.add_argument("--seed", type=int, help="schemathesis' seed (default: random)")
    args = parser.parse_args(argv)
    result = fuzz(args.max_examples, args.seed)
    print(result.stdout, result.stderr, sep="\n")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
