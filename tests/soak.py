"""`make soak`: 20,000 mixed requests at concurrency 32 against cvae-serve on 127.0.0.1, every answer checked.

wrk only counts statuses, so the load comes from Python (asyncio, httpx, a connection per worker), which
reads every answer: the status the request must get; for a 200, what it asked for (as many images as it
asked, each a base64 PNG that Pillow decodes in full as 28x28 grayscale, latent vectors of the model's
latent_dim, a digit of 0 to 9 whose source is the one the request implies, a written number's
image of the height asked with a box per digit, probabilities that sum to 1, a PNG
grid of the right size); for a 4xx, JSON with a "detail"; for every answer, no trace, file path or library
version in its headers or body (tests/leaks.py, as the fuzzer checks). Every request of the mix is seeded,
so the service promises the same answer to it each time (tests/test_app_batching.py): each answer must
equal, byte for byte, the first answer to the same request.

The mix is the serving benchmark's (benchmarks/serving_requests.py: every route that runs a model, two
mistakes) and four more mistakes: a latent vector of the wrong length, an n far over CVAE_MAX_N, a JSON
body cut short and one that is not even text. A warm-up phase (10% of the requests, at least 500, all
checked too) sets the server's memory level; the soak's RSS growth over it (the server's whole process
tree, read once the server is idle) must stay under 5%. The server's log must hold no traceback.

Starts `cvae-serve` on a free port of 127.0.0.1 (tests/live_server.py), or soaks a server already running
at --url (its RSS only with --pid). Exits non-zero on any failure. tests/test_soak.py runs a short version
in `make test`. Run from the repository root with it on the import path (`make soak` does).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import io
import itertools
import json
import math
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from leaks import leak_in
from live_server import cvae_serve
from PIL import Image
from tqdm import tqdm

from benchmarks.serving_requests import json_request, mixed_requests
from benchmarks.serving_servers import tree_rss_mb
from benchmarks.wrk import Request

REQUESTS = 20_000
CONCURRENCY = 32
RSS_GROWTH_LIMIT_PERCENT = 5.0
# Over any CVAE_MAX_N a server would be run with (default 256), so always refused before any work.
OVERSIZED_N = 10**9
# The service gives the memory that uploads freed back to the system within two seconds of the last one
# (app/batched.py); RSS is read after that.
SETTLE_S = 2.5
TIMEOUT_S = 60.0
FAILURES_KEPT = 10
IMAGE_SIZE = (28, 28)
GRID_PADDING = 2  # model/images.make_grid's black gutters
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MULTIPART_DIGIT = re.compile(rb'name="digit"\r\n\r\n(\d+)\r\n')


@dataclass(frozen=True)
class Planned:
    """One request of the mix, the status it must get and what it asked for (to check a 200 against)."""

    request: Request
    status: int
    asked: dict[str, Any]

    @property
    def route(self) -> str:
        return f"{self.request.method} {urlsplit(self.request.path).path}"


def _asked(request: Request) -> dict[str, Any]:
    """What the request asks: its JSON body, its query, or its upload's digit field (None: left out)."""
    query = urlsplit(request.path).query
    if query:
        return {key: int(value) for key, value in parse_qsl(query)}
    if request.content_type == "application/json":
        try:
            return json.loads(request.body)
        except ValueError:
            return {}  # the body that is not JSON on purpose
    found = _MULTIPART_DIGIT.search(request.body)
    return {"digit": int(found.group(1)) if found else None}


def soak_mix(latent_dim: int) -> list[Planned]:
    """The serving benchmark's mix and four more mistakes, each with the status the API documents for it."""
    mix = mixed_requests(latent_dim)
    broken = Request(
        "POST", "/v1/sample", b'{"digit": 3, "n":', "application/json", "POST /v1/sample cut JSON"
    )
    not_text = Request(
        "POST", "/v1/sample", b'{"digit": \xff}', "application/json", "POST /v1/sample not UTF-8"
    )
    mix += [
        (json_request("/v1/decode", {"digit": 5, "z": [[0.1] * (latent_dim + 1)]}), 422),
        (json_request("/v1/sample", {"digit": 3, "n": OVERSIZED_N, "seed": 1}), 422),
        # Broken JSON is FastAPI's json_invalid 422; only a body that is not UTF-8 gets the route's 400.
        (broken, 422),
        (not_text, 400),
    ]
    return [Planned(request, status, _asked(request)) for request, status in mix]


def _png_problem(data: bytes, size: tuple[int | None, int], what: str) -> str | None:
    """What is wrong with a PNG that must be grayscale of the given size (a width of None: any width)."""
    if not data.startswith(PNG_SIGNATURE):
        return f"{what} is not a PNG"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # every pixel decoded, not just the header read
            width = image.size[0] if size[0] is None else size[0]
            if image.size != (width, size[1]) or image.mode != "L":
                return f"{what} is {image.mode} {image.size[0]}x{image.size[1]}, not L {width}x{size[1]}"
    except (OSError, SyntaxError, ValueError) as e:
        return f"{what} does not decode: {e}"
    return None


def _echo_problems(body: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """Every field of the request that the answer does not echo as asked."""
    return [f"{key} {body.get(key)!r}, asked {asked[key]!r}" for key in asked if body.get(key) != asked[key]]


def _number_problems(body: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """/v1/number's answer: the text and seed asked, one PNG of the height asked, a box per digit in it."""
    problems = _echo_problems(body, asked)
    try:
        data = base64.b64decode(body.get("image"), validate=True)
    except (binascii.Error, TypeError):
        return [*problems, "image is not base64"]
    height = asked.get("height", IMAGE_SIZE[1])
    problems.append(_png_problem(data, (None, height), "image"))
    boxes = body.get("boxes")
    if not isinstance(boxes, list) or len(boxes) != len(asked["text"]):
        problems.append(f"boxes {boxes!r} are not one per digit of {asked['text']!r}"[:200])
    elif any(not (0 <= x0 < x1 and 0 <= y0 < y1 <= height) for x0, y0, x1, y1 in boxes):
        problems.append(f"a box outside the image: {boxes!r}"[:200])
    return [p for p in problems if p]


def _images_problems(images: Any, count: int, what: str) -> list[str]:
    if not isinstance(images, list) or len(images) != count:
        return [f"{what}: {len(images) if isinstance(images, list) else images!r} images, not {count}"]
    problems = []
    for i, text in enumerate(images):
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, TypeError):
            problems.append(f"{what}[{i}] is not base64")
            continue
        problems.append(_png_problem(data, IMAGE_SIZE, f"{what}[{i}]"))
    return [p for p in problems if p]


def _vectors_problems(rows: Any, count: int, latent_dim: int, what: str) -> list[str]:
    if not isinstance(rows, list) or len(rows) != count:
        return [f"{what}: not {count} vectors"]
    if any(not isinstance(row, list) or len(row) != latent_dim for row in rows):
        return [f"{what}: a vector that is not {latent_dim} numbers"]
    return []


def _probabilities_problem(values: Any, what: str) -> str | None:
    if (
        not isinstance(values, list)
        or len(values) != 10
        or not all(isinstance(p, float | int) and 0 <= p <= 1 for p in values)
        or not math.isclose(sum(values), 1, abs_tol=1e-3)
    ):
        return f"{what} are not 10 probabilities summing to 1: {values!r}"[:200]
    return None


def _decision_problems(body: dict[str, Any], given: int | None) -> list[str]:
    """An upload's digit: the one given, or the classifier's decision with the ELBO's vote beside it."""
    problems = []
    source = "inferred" if given is None else "given"
    if body.get("digit_source") != source:
        problems.append(f"digit_source {body.get('digit_source')!r}, not {source!r}")
    if body.get("digit") not in range(10) or (given is not None and body.get("digit") != given):
        problems.append(f"digit {body.get('digit')!r} (given: {given})")
    problems.append(_probabilities_problem(body.get("probabilities"), "probabilities"))
    if given is None:
        problems.append(_probabilities_problem(body.get("elbo_probabilities"), "elbo_probabilities"))
    elif body.get("elbo_probabilities") is not None:
        problems.append("elbo_probabilities given with the digit")
    return [p for p in problems if p]


def _loss_problem(loss: Any) -> str | None:
    terms = [loss.get(key) for key in ("rec", "kld", "elbo")] if isinstance(loss, dict) else []
    finite = len(terms) == 3 and all(isinstance(t, float | int) and math.isfinite(t) for t in terms)
    if finite and math.isclose(terms[2], -(terms[0] + terms[1]), rel_tol=1e-4, abs_tol=1e-3):
        return None
    return f"loss {loss!r} is not finite with elbo = -(rec + kld)"


def _grid_size(n: int) -> tuple[int, int]:
    """/v1/sample.png's default square grid of n tiles, with make_grid's gutters."""
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    width, height = IMAGE_SIZE
    return columns * (width + GRID_PADDING) + GRID_PADDING, rows * (height + GRID_PADDING) + GRID_PADDING


def _ok_problems(planned: Planned, response: httpx.Response, latent_dim: int) -> list[str]:
    """What is wrong with a 200's body, given what the request asked."""
    path, asked = urlsplit(planned.request.path).path, planned.asked
    if path == "/v1/sample.png":
        if response.headers.get("content-type") != "image/png":
            return [f"content-type {response.headers.get('content-type')!r}"]
        problems = [_png_problem(response.content, _grid_size(asked.get("n", 1)), "the grid")]
        if "seed" in asked and response.headers.get("x-seed") != str(asked["seed"]):
            problems.append(f"X-Seed {response.headers.get('x-seed')!r}, asked {asked['seed']}")
        return [p for p in problems if p]
    body = response.json()
    if path == "/v1/sample":
        n = asked.get("n", 1)
        problems = _echo_problems(body, asked)
        return (
            problems
            + _images_problems(body.get("images"), n, "images")
            + _vectors_problems(body.get("latents"), n, latent_dim, "latents")
        )
    if path == "/v1/decode":
        return _images_problems(body.get("images"), len(asked["z"]), "images")
    if path == "/v1/interpolate":
        steps = asked.get("steps", 8)
        problems = [f"digit {body.get('digit')!r}"] if body.get("digit") != asked["digit"] else []
        return (
            problems
            + _images_problems(body.get("images"), steps, "images")
            + _vectors_problems(body.get("latents"), steps, latent_dim, "latents")
        )
    if path == "/v1/number":
        return _number_problems(body, asked)
    problems = _decision_problems(body, asked["digit"])
    if path == "/v1/transfer":
        return (
            problems
            + _images_problems([body.get("input")], 1, "input")
            + _images_problems(body.get("images"), 10, "images")
        )
    problems += _vectors_problems([body.get("mu"), body.get("logvar")], 2, latent_dim, "mu, logvar")
    if path == "/v1/reconstruct":
        pair = [body.get("input"), body.get("reconstruction")]
        problems += [*_images_problems(pair, 2, "input, reconstruction"), _loss_problem(body.get("loss"))]
    return [p for p in problems if p]


def _error_problems(response: httpx.Response) -> list[str]:
    """A 4xx must be the service's JSON error, {"detail": ...}."""
    if response.headers.get("content-type") != "application/json":
        return [f"content-type {response.headers.get('content-type')!r}"]
    return [] if "detail" in response.json() else ["no detail"]


def _internals_problems(response: httpx.Response) -> list[str]:
    """No answer shows a trace, a path or a library version (tests/leaks.py, as the fuzzer checks), in its
    headers or, unless it is an image, its body."""
    leak = leak_in(response.headers.multi_items(), response.content)
    return [f"the answer shows {leak!r}"] if leak else []


def check(planned: Planned, response: httpx.Response, latent_dim: int) -> list[str]:
    """Everything wrong with one answer; empty when it is what the request must get."""
    if response.status_code != planned.status:
        return [f"status {response.status_code}, not {planned.status}: {response.text[:300]}"]
    try:
        problems = (
            _ok_problems(planned, response, latent_dim)
            if planned.status == 200
            else _error_problems(response)
        )
    except (ValueError, AttributeError, KeyError, TypeError) as e:  # not JSON, or JSON of another shape
        return [f"unreadable body ({type(e).__name__}: {e}): {response.text[:300]}"]
    return problems + _internals_problems(response)


@dataclass
class Tally:
    """Every answer counted by route and status; failures counted, the first few described."""

    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)  # (route, status or error)
    sent: int = 0
    failures: int = 0
    examples: list[str] = field(default_factory=list)
    first_answers: dict[int, bytes] = field(default_factory=dict)

    def fail(self, planned: Planned, problems: list[str]) -> None:
        self.failures += 1
        if len(self.examples) < FAILURES_KEPT:
            self.examples.append(f"{planned.request.label}: {'; '.join(problems)}")

    def by_status(self) -> Counter[str]:
        """The answers by status alone, over every route."""
        counts: Counter[str] = Counter()
        for (_, status), n in self.statuses.items():
            counts[status] += n
        return counts

    def answer(self, kind: int, planned: Planned, response: httpx.Response, latent_dim: int) -> None:
        self.statuses[planned.route, str(response.status_code)] += 1
        problems = check(planned, response, latent_dim)
        if not problems and self.first_answers.setdefault(kind, response.content) != response.content:
            problems.append("differs from the first answer to the same request")
        if problems:
            self.fail(planned, problems)


async def _drive(
    url: str, mix: list[Planned], count: int, concurrency: int, latent_dim: int, tally: Tally, bar: tqdm
) -> None:
    """`count` requests, the mix in turn, from `concurrency` workers, each on a connection of its own.

    Not one pool for all the workers: a pool hands each request its first idle connection, so its last ones
    sit idle for seconds, and one reused just as the server's keep-alive timeout (5 s) closes it is reset,
    a race of HTTP/1.1 keep-alive that says nothing about the service.
    """
    planned = itertools.islice(itertools.cycle(enumerate(mix)), count)

    async def worker() -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(
            base_url=url, limits=limits, timeout=TIMEOUT_S, trust_env=False
        ) as client:
            for kind, item in planned:  # one iterator shared by the workers: each request is sent once
                request = item.request
                headers = {"content-type": request.content_type} if request.content_type else {}
                tally.sent += 1
                try:
                    response = await client.request(
                        request.method, request.path, content=request.body or None, headers=headers
                    )
                except httpx.HTTPError as e:
                    tally.statuses[item.route, type(e).__name__] += 1
                    tally.fail(item, [f"{type(e).__name__}: {e}"])
                else:
                    tally.answer(kind, item, response, latent_dim)
                bar.update()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass
class SoakResult:
    """What the soak sent, what came back, and the server's memory before and after."""

    warmup: int
    requests: int
    concurrency: int
    wall_s: float
    tally: Tally
    rss_warm_mb: float | None = None
    rss_after_mb: float | None = None

    @property
    def rate(self) -> float:
        return round(self.requests / self.wall_s, 1)

    @property
    def rss_growth_percent(self) -> float | None:
        if self.rss_warm_mb is None or self.rss_after_mb is None:
            return None
        return round(100 * (self.rss_after_mb - self.rss_warm_mb) / self.rss_warm_mb, 2)

    @property
    def passed(self) -> bool:
        growth = self.rss_growth_percent
        return self.tally.failures == 0 and (growth is None or growth < RSS_GROWTH_LIMIT_PERCENT)

    def summary(self) -> str:
        lines = [
            f"soak: {self.requests:,} requests after {self.warmup:,} to warm up, concurrency "
            f"{self.concurrency}: {self.wall_s:.1f} s, {self.rate} requests/s",
            *(f"  {route} {status}: {n:,}" for (route, status), n in sorted(self.tally.statuses.items())),
            f"failures: {self.tally.failures:,} of {self.tally.sent:,} answers checked",
            *(f"  {example}" for example in self.tally.examples),
        ]
        if self.rss_growth_percent is None:
            lines.append("RSS: not measured (no --pid)")
        else:
            lines.append(
                f"RSS: {self.rss_warm_mb} MB after the warm-up, {self.rss_after_mb} MB after the soak: "
                f"{self.rss_growth_percent:+.2f}% (limit {RSS_GROWTH_LIMIT_PERCENT:g}%)"
            )
        return "\n".join(lines)


def default_warmup(requests: int) -> int:
    return max(500, requests // 10)


def soak(
    url: str,
    requests: int,
    concurrency: int = CONCURRENCY,
    warmup: int | None = None,
    rss_mb: Callable[[], float] | None = None,
    settle: Callable[[], None] | None = None,
    progress: bool = False,
) -> SoakResult:
    """Warm up, then soak; `rss_mb` (read after `settle`) gives the server's memory after each phase."""
    warmup = default_warmup(requests) if warmup is None else warmup
    with httpx.Client(base_url=url, timeout=TIMEOUT_S, trust_env=False) as client:
        latent_dim = client.get("/v1/model").raise_for_status().json()["latent_dim"]
    mix, tally = soak_mix(latent_dim), Tally()
    rss: list[float] = []
    wall_s = 0.0
    for name, count in (("warm-up", warmup), ("soak", requests)):
        start = time.perf_counter()
        with tqdm(total=count, desc=name, unit="req", disable=not progress) as bar:
            asyncio.run(_drive(url, mix, count, concurrency, latent_dim, tally, bar))
        wall_s = time.perf_counter() - start
        if rss_mb is not None:
            time.sleep(SETTLE_S)
            if settle is not None:
                settle()
            rss.append(rss_mb())
    result = SoakResult(warmup, requests, concurrency, round(wall_s, 2), tally)
    if rss:
        result.rss_warm_mb, result.rss_after_mb = rss
    return result


def soak_served(
    requests: int, concurrency: int = CONCURRENCY, warmup: int | None = None, progress: bool = False
) -> SoakResult:
    """`soak` against a cvae-serve of its own, whose log must then hold no traceback."""
    with tempfile.TemporaryDirectory() as logs:
        with cvae_serve(Path(logs)) as server:
            result = soak(
                server.url, requests, concurrency, warmup, server.rss_mb, server.wait_idle, progress
            )
        log = (Path(logs) / "cvae-serve.log").read_text(errors="replace")
    if "Traceback" in log:
        result.tally.failures += 1
        result.tally.examples.append(
            f"the server's log holds a traceback:\n{log[log.index('Traceback') :][:3000]}"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=REQUESTS, help=f"after the warm-up (default: {REQUESTS})"
    )
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help=f"(default: {CONCURRENCY})")
    parser.add_argument(
        "--warmup", type=int, help="requests before the RSS level is read (default: 10%%, >= 500)"
    )
    parser.add_argument("--url", help="soak this running server instead of starting one (127.0.0.1 only)")
    parser.add_argument("--pid", type=int, help="with --url: the server's process, for its RSS")
    args = parser.parse_args(argv)
    if args.url is None:
        result = soak_served(args.requests, args.concurrency, args.warmup, progress=True)
    else:
        if urlsplit(args.url).hostname != "127.0.0.1":
            parser.error("--url: the soak loads only a server on 127.0.0.1")
        rss = None if args.pid is None else (lambda: tree_rss_mb(args.pid))
        result = soak(args.url, args.requests, args.concurrency, args.warmup, rss, progress=True)
    print(result.summary())
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
