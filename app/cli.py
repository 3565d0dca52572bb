"""`cvae-serve`: check the checkpoints, then serve the API with uvicorn.

The options are written into the CVAE_* environment, so every uvicorn worker process builds the same
Settings. The checkpoints are loaded once here before uvicorn starts, so that a missing or corrupt one stops
start-up with one line on stderr and a non-zero exit instead of a worker's traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from pydantic import ValidationError

from app.service import ModelService
from app.settings import Settings
from model.checkpoint import CheckpointError

# Options that override a setting; left out, the environment's value or the setting's default holds.
_SETTINGS_OPTIONS = {
    "checkpoint": "CVAE_CHECKPOINT",
    "classifier": "CVAE_CLASSIFIER",
    "device": "CVAE_DEVICE",
}


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for option, variable in _SETTINGS_OPTIONS.items():
        if getattr(args, option) is not None:
            os.environ[variable] = str(getattr(args, option))
    try:
        settings = Settings()
        ModelService.load(settings)
    except ValidationError as e:
        error = e.errors()[0]
        print(f"cvae-serve: invalid setting {error['loc'][0]}: {error['msg']}", file=sys.stderr)
        return 2
    except (CheckpointError, ValueError) as e:
        print(f"cvae-serve: {e}", file=sys.stderr)
        return 1
    uvicorn.run(
        "app.main:build_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        access_log=False,  # the app logs each request itself, with its latency
    )
    return 0
