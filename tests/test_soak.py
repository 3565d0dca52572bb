"""A short `make soak` (the full 20,000 requests under `make robustness`): every answer checked, RSS flat."""

from __future__ import annotations

import base64
import io
import sys
from importlib import metadata

import httpx
from PIL import Image
from robustness import Recorder, bounded
from soak import CONCURRENCY, RSS_GROWTH_LIMIT_PERCENT, check, default_warmup, soak_mix, soak_served

LATENT_DIM = 12


def _png_base64(size: tuple[int, int] = (28, 28)) -> str:
    buffer = io.BytesIO()
    Image.new("L", size).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_checks_refuse_wrong_answers() -> None:
    """Without a live server: a right answer passes, and each kind of wrong one is caught."""
    mix = {planned.request.label: planned for planned in soak_mix(LATENT_DIM)}
    sample = mix['POST /v1/sample {"digit":7,"n":1,"seed":1}']
    good = {"digit": 7, "n": 1, "seed": 1, "temperature": 1.0, "images": [_png_base64()]}
    good["latents"] = [[0.0] * LATENT_DIM]
    assert check(sample, httpx.Response(200, json=good), LATENT_DIM) == []
    wrong = [
        {**good, "images": []},
        {**good, "images": [_png_base64((28, 27))]},
        {**good, "images": ["not base64!"]},
        {**good, "latents": [[0.0] * (LATENT_DIM - 1)]},
        {**good, "seed": 2},
    ]
    for body in wrong:
        assert check(sample, httpx.Response(200, json=body), LATENT_DIM), body
    assert check(sample, httpx.Response(500, json={"detail": "internal server error"}), LATENT_DIM)
    mistake = mix['POST /v1/sample {"digit":11,"n":1}']
    assert check(mistake, httpx.Response(422, json={"detail": "digit: at most 9"}), LATENT_DIM) == []
    for detail in (
        "Traceback (most recent call last):",
        f"{sys.prefix}/lib",
        f"torch {metadata.version('torch')}",
    ):
        assert check(mistake, httpx.Response(422, json={"detail": detail}), LATENT_DIM), detail


def test_soak_answers_every_request_as_documented_without_growing(robustness: Recorder) -> None:
    requests = bounded(20_000, 1_500)
    result = soak_served(requests, CONCURRENCY)
    tally, warmup, mix = result.tally, default_warmup(requests), soak_mix(LATENT_DIM)
    mistakes = sum(planned.status != 200 for planned in mix)
    statuses = ", ".join(f"{n:,}x {status}" for status, n in sorted(tally.by_status().items()))
    robustness.record(
        sent=f"{len(mix)} kinds of request (every model route, {mistakes} mistakes) in turn at "
        f"concurrency {CONCURRENCY}: {warmup:,} to warm up, then {requests:,}",
        count=tally.sent,
        came_back=f"{statuses}, each checked against its request, the same request always the same bytes; "
        f"{result.rate} requests/s; RSS {result.rss_warm_mb} MB after the warm-up, {result.rss_after_mb} MB "
        f"after the soak ({result.rss_growth_percent:+.2f}%)",
        lost="nothing"
        if tally.failures == 0
        else f"{tally.failures} wrong answers, first: {tally.examples[0]}",
    )
    assert tally.failures == 0, "\n".join(tally.examples)
    assert tally.sent == warmup + requests
    # Asserted at the short size too: after the warm-up, 1,500 requests moved RSS by -0.03 to +0.39% here.
    assert result.rss_growth_percent is not None
    assert result.rss_growth_percent < RSS_GROWTH_LIMIT_PERCENT, result.summary()
