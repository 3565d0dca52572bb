"""Prometheus metrics of one app instance, on its own registry so that several apps (tests) never clash.

Under several uvicorn workers a scrape reaches one of them, so each would report only its own share:
cvae-serve then runs prometheus_client's multiprocess mode (shared_metrics), in which every worker writes
its values to files in one directory and /metrics sums them over all workers, those replaced included.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

# prometheus_client reads it when first imported: a worker process started with it set writes its values
# to files there instead of keeping them in memory.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Inference on CPU takes milliseconds to a second; the buckets span that with room on both sides.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Requests per batch, and images (rows) per batch: 1 up to the default cap of 256.
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Requests by route and status, their latency, the images the model produced, and the batches it ran."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cvae_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cvae_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.images_generated = Counter(
            "cvae_images_generated",
            "Images decoded by the CVAE, by model and endpoint.",
            ["model", "endpoint"],
            registry=self.registry,
        )
        self.batch_items = self._by_batcher(
            "cvae_batch_requests", "Requests gathered into one forward pass.", BATCH_SIZE_BUCKETS
        )
        self.batch_rows = self._by_batcher(
            "cvae_batch_rows", "Images (rows) in one forward pass.", BATCH_SIZE_BUCKETS
        )
        self.batch_seconds = self._by_batcher(
            "cvae_batch_duration_seconds", "Time one batch took in a model thread.", LATENCY_BUCKETS
        )

    def _by_batcher(self, name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, documentation, ["model", "batcher"], buckets=buckets, registry=self.registry)

    def batch_observer(self, model: str, batcher: str) -> Callable[[int, int, float], None]:
        """What a MicroBatcher calls after each batch: (requests, rows, seconds) into the histograms."""
        items, rows, seconds = (
            h.labels(model, batcher) for h in (self.batch_items, self.batch_rows, self.batch_seconds)
        )

        def observe(n_items: int, n_rows: int, elapsed: float) -> None:
            items.observe(n_items)
            rows.observe(n_rows)
            seconds.observe(elapsed)

        return observe

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format; under workers, every worker's values summed."""
        if MULTIPROCESS_DIR not in os.environ:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)


@contextmanager
def shared_metrics() -> Iterator[None]:
    """While it lasts, worker processes started from this one count their metrics together, in a directory
    of their own (removed afterwards) unless PROMETHEUS_MULTIPROC_DIR already names one."""
    if MULTIPROCESS_DIR in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="cvae-metrics-") as directory:
        os.environ[MULTIPROCESS_DIR] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR]
