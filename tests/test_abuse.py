"""Abuse of a live `cvae-serve` on 127.0.0.1: slow clients and oversized requests.

Slow clients (slowloris): connections that send nothing, their headers a byte at a time, or a body a few
bytes at a time. While they hang on, other clients are answered as usual, and each slow one is answered 408
and closed once the documented deadline (CVAE_HEADER_TIMEOUT_S, CVAE_BODY_TIMEOUT_S; set short here) has
passed. Bombs: an image that declares 30000x30000 pixels and requests far over the limits are refused
before anything large is allocated, which the server's peak RSS (VmHWM) shows.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from app_support import encode_image, png_declaring
from live_server import cvae_serve
from PIL import Image
from robustness import Recorder

from benchmarks.serving_servers import HOST, Server, status_kib

HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 3.0
SLOW_CLIENTS = 100  # of each kind
NORMAL_REQUESTS = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    env = {"CVAE_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S), "CVAE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}
    with cvae_serve(tmp_path_factory.mktemp("abuse"), env=env) as running:
        yield running


async def _slow_client(port: int, kind: str, pause: float = 0.2) -> tuple[str, float]:
    """One slow connection, kept up until the server ends it: its status line (or "closed") and how long."""
    reader, writer = await asyncio.open_connection(HOST, port)
    start = time.monotonic()
    trickle = {
        "silent": b"",
        "headers": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 10_000,
        "body": b"POST /v1/decode HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n" + b" " * 10_000,
    }[kind]
    head = trickle[: trickle.index(b"\r\n\r\n") + 4] if kind == "body" else b""
    writer.write(head)

    async def drip() -> None:
        for i in range(len(head), len(trickle)):
            writer.write(trickle[i : i + 1])
            await asyncio.sleep(pause)

    dripping = asyncio.create_task(drip())
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        dripping.cancel()
        writer.close()
    status = answer.split(b"\r\n", 1)[0].decode() if answer else "closed"
    return status, time.monotonic() - start


async def _normal_requests(url: str) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.sleep(0.5)  # the slow clients are connected by now
        replies = await asyncio.gather(
            *(
                client.post("/v1/sample", json={"digit": i % 10, "n": 1, "seed": i})
                for i in range(NORMAL_REQUESTS)
            )
        )
    assert all(len(reply.json()["images"]) == 1 for reply in replies if reply.status_code == 200)
    return [reply.status_code for reply in replies]


async def _siege(server: Server) -> tuple[list[int], dict[str, list[tuple[str, float]]]]:
    kinds = ("silent", "headers", "body")
    port = int(server.url.rsplit(":", 1)[1])
    slow = {
        kind: [asyncio.create_task(_slow_client(port, kind)) for _ in range(SLOW_CLIENTS)] for kind in kinds
    }
    normal = await _normal_requests(server.url)
    return normal, {kind: await asyncio.gather(*tasks) for kind, tasks in slow.items()}


def _open_sockets(pid: int) -> int:
    return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if "socket" in str(fd.readlink()))


def test_slow_clients_cannot_pin_the_server(server: Server, robustness: Recorder) -> None:
    sockets_before = _open_sockets(server.process.pid)
    normal, slow = asyncio.run(_siege(server))
    assert normal == [200] * NORMAL_REQUESTS
    deadlines = {"silent": HEADER_TIMEOUT_S, "headers": HEADER_TIMEOUT_S, "body": BODY_TIMEOUT_S}
    for kind, results in slow.items():
        statuses = Counter(status for status, _ in results)
        assert statuses == {"HTTP/1.1 408 Request Timeout": SLOW_CLIENTS}, (kind, statuses)
        # Answered at the deadline: not before it, and not long after (the event loop was never blocked).
        assert all(deadlines[kind] - 0.5 <= seconds <= deadlines[kind] + 5 for _, seconds in results), kind
    time.sleep(0.5)
    assert _open_sockets(server.process.pid) <= sockets_before
    slowest = {kind: max(seconds for _, seconds in results) for kind, results in slow.items()}
    robustness.record(
        sent=f"{SLOW_CLIENTS} connections each that send nothing, their headers a byte per 0.2 s, or a body "
        f"a byte per 0.2 s (header deadline {HEADER_TIMEOUT_S:g} s, body {BODY_TIMEOUT_S:g} s), meanwhile "
        f"{NORMAL_REQUESTS} ordinary /v1/sample requests",
        count=3 * SLOW_CLIENTS + NORMAL_REQUESTS,
        came_back=f"{normal.count(200)}x 200 to the ordinary requests; every slow connection 408 and closed, "
        + ", ".join(f"{kind} within {seconds:.1f} s" for kind, seconds in slowest.items())
        + "; the server's open sockets back to where they were",
    )


async def _busy_trickles(port: int) -> dict[str, Counter[str]]:
    async def statuses(kind: str) -> Counter[str]:
        results = await asyncio.gather(*(_slow_client(port, kind, pause=0.002) for _ in range(30)))
        return Counter(status for status, _ in results)

    return {kind: await statuses(kind) for kind in ("headers", "body")}


def test_a_client_still_sending_at_the_deadline_reads_its_408(server: Server) -> None:
    """Bytes arriving as the server closes must not turn the 408 into a connection reset (lingering close)."""
    port = int(server.url.rsplit(":", 1)[1])
    statuses = asyncio.run(_busy_trickles(port))
    assert statuses == {kind: {"HTTP/1.1 408 Request Timeout": 30} for kind in ("headers", "body")}


def _peak_rss_mb(pid: int) -> float:
    return status_kib(pid, "VmHWM") / 1024


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is rewritten to declare width x height."""
    data = bytearray(encode_image(Image.new("L", (16, 16), 255), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


# name: (how it is sent, what it is, the status it must get, how far the server's peak RSS may rise in MB)
BOMBS = {
    # Decoded, a 30000x30000 grey image alone would be 900 MB.
    "PNG declaring 30000x30000": ("upload", png_declaring(30000, 30000), 413, 10),
    "JPEG declaring 30000x30000": ("upload", jpeg_declaring(30000, 30000), 413, 10),
    "sample n = 10^9": ("json", {"digit": 1, "n": 10**9}, 422, 10),
    "decode 10^6 rows of z (7 MB)": ("json", {"digit": 1, "z": [[0.0]] * 10**6}, 413, 10),
    # Just under the default CVAE_MAX_JSON_BYTES (1 MiB): parsed (some 35 MB of Python lists and floats),
    # then refused for its length.
    "decode 149,000 rows of z (1 MB)": ("json", {"digit": 1, "z": [[0.0]] * 149_000}, 422, 60),
}


def _send(client: httpx.Client, kind: str, payload: Any) -> httpx.Response:
    if kind == "upload":
        return client.post("/v1/reconstruct", files={"file": ("bomb", payload, "application/octet-stream")})
    path = "/v1/decode" if "z" in payload else "/v1/sample"
    return client.post(path, content=json.dumps(payload), headers={"Content-Type": "application/json"})


def test_bombs_are_refused_before_any_large_allocation(server: Server, robustness: Recorder) -> None:
    answers = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for name, (kind, payload, expected, most_mb) in BOMBS.items():
            peak_before = _peak_rss_mb(server.process.pid)
            reply = _send(client, kind, payload)
            growth = _peak_rss_mb(server.process.pid) - peak_before
            assert reply.status_code == expected, (name, reply.text[:300])
            assert "detail" in reply.json()
            assert growth < most_mb, f"{name}: the server's peak RSS rose by {growth:.0f} MB"
            answers.append(f"{name}: {reply.status_code}, peak RSS +{growth:.1f} MB")
    robustness.record(
        sent="; ".join(BOMBS) + " (one each, peak RSS read from the server's VmHWM)",
        count=len(BOMBS),
        came_back="; ".join(answers) + " (a decoded 30000x30000 image would be 900 MB)",
    )
