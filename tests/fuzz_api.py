"""`make fuzz`: schemathesis, every check, against the service on 127.0.0.1 with an API key set.

Starts `cvae-serve` on a free port of 127.0.0.1 with CVAE_API_KEY set, waits until it is ready, runs
`st run --checks all` on its /openapi.json with the key (schemathesis also tries requests without it and
with a wrong one: they must get 401), then stops the server. Exits with schemathesis' status.
tests/test_fuzz.py runs a bounded version of the same in `make test`. The server is started and stopped as
the serving benchmark starts its own (benchmarks/serving_servers.py); run from the repository root with it
on the import path (`make fuzz` does).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from robustness import FUZZ_ANSWERS_VARIABLE

from benchmarks.serving_servers import HOST, free_port, serve

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def fuzz(
    max_examples: int, seed: int | None = None, answers_log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Serve, fuzz, stop; schemathesis' output and status. The status of every error answer is appended to
    `answers_log` once tests/fuzz_hooks.py has checked it for traces, paths and versions."""
    port, key = free_port(), secrets.token_urlsafe(16)
    serve_command = [str(BIN / "cvae-serve"), "--host", HOST, "--port", str(port)]
    # A few draws are enough to reach min_confidence's 422, and keep each case that meets it short; so do a
    # few images of each class for a dataset.
    server_env = {
        "CVAE_API_KEY": key,
        "CVAE_LOG_LEVEL": "warning",
        "CVAE_MAX_DRAWS": "512",
        "CVAE_MAX_DATASET_PER_CLASS": "4",
        "CVAE_WORKERS": "2",  # as tests/live_server.py: the default's path, at a size every machine holds
    }
    with (
        tempfile.TemporaryDirectory() as logs,
        serve("fuzzed", serve_command, port, "/readyz", Path(logs), server_env) as server,
    ):
        command = [str(BIN / "st"), "run", f"{server.url}/openapi.json", "--checks", "all"]
        command += ["--header", f"Authorization: Bearer {key}", "--max-examples", str(max_examples)]
        command += ["--seed", str(seed)] if seed is not None else []
        hooks = {"SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "PYTHONPATH": str(ROOT)}
        hooks |= {FUZZ_ANSWERS_VARIABLE: str(answers_log)} if answers_log else {}
        return subprocess.run(command, cwd=ROOT, env={**os.environ, **hooks}, capture_output=True, text=True)


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
