"""`cvae-serve`: check the checkpoints, then serve the API with uvicorn.

A missing or corrupt checkpoint stops start-up with one line on stderr and a non-zero exit instead of a
worker's traceback. With one worker the checkpoints are loaded here and the app serves those very models.
With N (by default one per CPU the process may use), this process is only the supervisor of the workers:
the checkpoints are checked in a short-lived child process, and each worker loads its own copy from the
same Settings object, which uvicorn's supervisor hands to the workers with the rest of its configuration;
the workers count their metrics in one place (app/metrics.py).

The supervisor never imports torch (224 MB resident on its own, as much again as a worker's models and
buffers): the modules that need it are imported where a worker or the check runs, not at the top here.
"""

from __future__ import annotations

import argparse
import errno
import multiprocessing
import socket
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from pydantic import ValidationError
from uvicorn.supervisors import Multiprocess

from app.cpus import usable_cpus
from app.metrics import shared_metrics
from app.protocol import http_protocol
from app.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.service import ModelService

# Options that override a setting; left out, the environment's value or the setting's default holds.
_SETTINGS_OPTIONS = ("checkpoint", "classifier", "device", "workers")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Settings.model_fields
    parser = argparse.ArgumentParser(
        prog="cvae-serve",
        description="Serve the CVAE over HTTP. Other settings come from CVAE_* variables (README).",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 for all interfaces (default: 127.0.0.1)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument(
        "--checkpoint",
        help=f"CVAE checkpoint directory (default: $CVAE_CHECKPOINT, else {defaults['checkpoint'].default})",
    )
    parser.add_argument(
        "--classifier",
        help=f"classifier directory (default: $CVAE_CLASSIFIER, else {defaults['classifier'].default})",
    )
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: $CVAE_DEVICE, else auto)")
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes, each with its own event loop and copy of the models (default: "
        f"$CVAE_WORKERS, else one per CPU this process may use, here {usable_cpus()})",
    )
    return parser.parse_args(argv)


def _where_hint(settings: Settings) -> str:
    """Where a checkpoint directory is absent, how to name it: the defaults are relative to the working
    directory, so `cvae-serve` started elsewhere than the repository root finds none of them. Where the
    defaults are here (the repository root), the path given is what is wrong."""
    paths = [path for model in settings.served_models() for path in (model.checkpoint, model.classifier)]
    missing = [path for path in paths if not Path(path).is_dir()]
    if not missing:
        return ""
    defaults = Settings.model_fields
    if all(Path(defaults[name].default).is_dir() for name in ("checkpoint", "classifier")):
        named = ", ".join(map(str, missing))
        return f"; no such directory: {named} (relative paths are read from {Path.cwd()})"
    return (
        f"; relative paths are read from {Path.cwd()}: run from the repository root, or name the models with "
        "--checkpoint and --classifier (CVAE_CHECKPOINT, CVAE_CLASSIFIER, CVAE_EXTRA_MODELS)"
    )


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, found before any model loads (seconds); None if it can.
    Bound the way uvicorn binds (SO_REUSEADDR: a port a stopped server left in TIME_WAIT is free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return (
                    f"port {port} of {host} is in use: stop what serves there, or choose another with --port"
                )
            return f"cannot listen on {host}:{port} ({e.strerror or e})"
    return None


def worker_app(settings: Settings) -> FastAPI:
    """A worker's app: what uvicorn's factory option calls in each worker process."""
    from app.main import create_app

    return create_app(settings)


def _load(settings: Settings) -> list[ModelService] | str:
    """The settings' models loaded, or why they cannot be, in one line."""
    from app.service import load_services
    from model.checkpoint import CheckpointError

    try:
        return load_services(settings)
    except (CheckpointError, ValueError) as e:
        return f"{e}{_where_hint(settings)}"


def load_problem(settings: Settings) -> str | None:
    """Why the settings' checkpoints cannot be served; None when they load. Run in a child process."""
    loaded = _load(settings)
    return loaded if isinstance(loaded, str) else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {
        option: getattr(args, option) for option in _SETTINGS_OPTIONS if getattr(args, option) is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        error = e.errors()[0]
        print(f"cvae-serve: invalid setting {error['loc'][0]}: {error['msg']}", file=sys.stderr)
        return 2
    problem = port_problem(args.host, args.port)
    if problem is not None:
        print(f"cvae-serve: {problem}", file=sys.stderr)
        return 1
    # Resolved here, once: each worker shares the CPUs out by the same count (Settings.cpus_per_worker).
    settings = settings.model_copy(update={"workers": settings.workers_to_start()})
    # The app logs each request itself, with its latency; uvicorn's own access log would be a second line.
    # No Server header: a client has no need to know what serves it.
    options = {
        "host": args.host,
        "port": args.port,
        "log_level": settings.log_level,
        "access_log": False,
        "server_header": False,
        "http": http_protocol(settings.header_timeout_s),
    }
    if settings.workers == 1:
        return _serve_here(settings, options)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as check:
        problem = check.submit(load_problem, settings).result()
    if problem is not None:
        print(f"cvae-serve: {problem}", file=sys.stderr)
        return 1
    config = uvicorn.Config(partial(worker_app, settings), factory=True, workers=settings.workers, **options)
    with shared_metrics():
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    return 0


def _serve_here(settings: Settings, options: dict[str, Any]) -> int:
    """One worker: this process loads the models, then serves them."""
    from app.main import create_app

    loaded = _load(settings)
    if isinstance(loaded, str):
        print(f"cvae-serve: {loaded}", file=sys.stderr)
        return 1
    uvicorn.run(create_app(settings, loaded), **options)
    return 0
