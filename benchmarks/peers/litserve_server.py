"""LitServe serving /v1/sample, configured as its docs advise for CPU: two inference workers
(workers_per_device) with dynamic batching of up to 64 requests; run in .venv-peers.

The batch window is cvae-serve's own (CVAE_BATCH_WINDOW_MS), so both gather requests for as long.
Everything but HTTP (the seeded draws, the decoder, the PNGs) runs in the inference workers, as LitServe
means it to. No `from __future__ import annotations`: LitServe reads decode_request's annotation as a type.
"""

import argparse
from typing import Any

import litserve as ls

from benchmarks.peers.config import BATCH_TIMEOUT_S, MAX_BATCH, WORKERS
from benchmarks.peers.sampling import SampleBody, Sampler


class SampleAPI(ls.LitAPI):
    """Requests pass through as parsed bodies; each batch is answered by one Sampler.answers call."""

    def setup(self, device: str) -> None:
        self.sampler = Sampler()

    def decode_request(self, request: SampleBody) -> SampleBody:
        return request

    def batch(self, inputs: list[SampleBody]) -> list[SampleBody]:
        return inputs

    def predict(self, x: list[SampleBody]) -> list[dict[str, Any]]:
        return self.sampler.answers(x)

    def unbatch(self, output: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return output

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    api = SampleAPI(max_batch_size=MAX_BATCH, batch_timeout=BATCH_TIMEOUT_S, api_path="/v1/sample")
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=WORKERS)
    server.run(host=args.host, port=args.port, generate_client_file=False)


if __name__ == "__main__":
    main()
