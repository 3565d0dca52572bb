"""`cvae-serve`: load the checkpoints, then serve the API with uvicorn.

The checkpoints are loaded here before uvicorn starts, so that a missing or corrupt one stops start-up with
one line on stderr and a non-zero exit instead of a worker's traceback. With one worker (the default) the
app serves those very models; with --workers N, each worker process loads its own copy from the same
Settings object, which uvicorn's supervisor hands to the workers with the rest of its configuration.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import uvicorn
from pydantic import ValidationError
from uvicorn.supervisors import Multiprocess

from app.main import create_app
from app.protocol import http_protocol
from app.service import load_services
from app.settings import Settings
from model.checkpoint import CheckpointError

# Options that override a setting; left out, the environment's value or the setting's default holds.
_SETTINGS_OPTIONS = ("checkpoint", "classifier", "device")


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
        default=1,
        help="worker processes, each with its own copy of the models (default: 1)",
    )
    return parser.parse_args(argv)


def _where_hint(settings: Settings) -> str:
    """Where a checkpoint directory is absent, how to name it: the defaults are relative to the working
    directory, so `cvae-serve` started elsewhere than the repository root finds none of them."""
    paths = [path for model in settings.served_models() for path in (model.checkpoint, model.classifier)]
    if all(Path(path).is_dir() for path in paths):
        return ""
    return (
        f"; relative paths are read from {Path.cwd()}: run from the repository root, or name the models with "
        "--checkpoint and --classifier (CVAE_CHECKPOINT, CVAE_CLASSIFIER, CVAE_EXTRA_MODELS)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {
        option: getattr(args, option) for option in _SETTINGS_OPTIONS if getattr(args, option) is not None
    }
    try:
        settings = Settings(**overrides)
        services = load_services(settings)
    except ValidationError as e:
        error = e.errors()[0]
        print(f"cvae-serve: invalid setting {error['loc'][0]}: {error['msg']}", file=sys.stderr)
        return 2
    except (CheckpointError, ValueError) as e:
        print(f"cvae-serve: {e}{_where_hint(settings)}", file=sys.stderr)
        return 1
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
    if args.workers == 1:
        uvicorn.run(create_app(settings, services), **options)
        return 0
    # Worker processes start afresh and each loads its own models: the ones loaded here were the check.
    del services
    config = uvicorn.Config(partial(create_app, settings), factory=True, workers=args.workers, **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
    return 0
