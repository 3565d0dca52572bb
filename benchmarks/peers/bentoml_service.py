"""BentoML serving /v1/sample as its docs advise for CPU: an API service in front of a model service with
two workers and adaptive batching of up to 64 requests; run in .venv-peers (`bentoml serve
benchmarks.peers.bentoml_service:Front`).

The front only takes HTTP and hands each request to the batching service, where everything else (the
seeded draws, the decoder, the PNGs) runs. BentoML's client between the two replaces its connection session
every 100 calls by default (runner_connection.max_requests); under concurrency that closes a session that
other calls are still using (with the default, 4 s at 16 clients gave 32 answers 500, ServerDisconnectedError
in the front), so the limit is raised (config.SESSION_MAX_REQUESTS), as a user who met it would.
"""

from __future__ import annotations

from typing import Any

import bentoml

from benchmarks.peers.config import MAX_BATCH, SESSION_MAX_REQUESTS, WORKERS
from benchmarks.peers.sampling import SampleBody, Sampler


@bentoml.service(workers=WORKERS, runner_connection={"max_requests": SESSION_MAX_REQUESTS})
class Decoder:
    """The batching service: one forward pass for each batch of requests."""

    def __init__(self) -> None:
        self.sampler = Sampler()

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH)
    def answers(self, bodies: list[SampleBody]) -> list[dict[str, Any]]:
        return self.sampler.answers(bodies)


@bentoml.service
class Front:
    """The HTTP API: POST /v1/sample with cvae-serve's body, answered by the Decoder service."""

    decoder = bentoml.depends(Decoder)

    @bentoml.api(route="/v1/sample", input_spec=SampleBody)
    async def sample(self, label: int, n: int, seed: int) -> dict[str, Any]:
        (answer,) = await self.decoder.to_async.answers([SampleBody(label=label, n=n, seed=seed)])
        return answer
