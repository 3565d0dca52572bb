"""How the peers are configured: what their docs advise for CPU, in one place for the servers (run in
.venv-peers) and for the driver that records it (run in .venv)."""

from __future__ import annotations

import os
from typing import Any

from app.settings import Settings

# Two inference workers and dynamic batching of up to 64 requests, as both frameworks' docs advise for CPU.
WORKERS = 2
MAX_BATCH = 64
# LitServe waits this long for a batch to fill: cvae-serve's own batch window (CVAE_BATCH_WINDOW_MS).
BATCH_TIMEOUT_S = Settings().batch_window_ms / 1000
# BentoML's client between its services replaces its connection session after this many calls (default
# 100, closing a session that concurrent calls still use): far above a benchmark run's calls.
SESSION_MAX_REQUESTS = 10**9


def worker_threads() -> int:
    """torch threads for each inference worker: the cores shared out, so that the workers do not
    oversubscribe them (neither framework sets torch's threads)."""
    return max(1, (os.cpu_count() or 1) // WORKERS)


def record() -> dict[str, Any]:
    return {
        "workers": WORKERS,
        "max_batch": MAX_BATCH,
        "litserve_batch_timeout_s": BATCH_TIMEOUT_S,
        "bentoml_session_max_requests": SESSION_MAX_REQUESTS,
        "torch_threads_per_worker": worker_threads(),
    }
