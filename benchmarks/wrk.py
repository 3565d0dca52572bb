"""wrk as the load generator: one request or a cycle of prebuilt ones, sent as bytes; its report parsed.

wrk (C, epoll) costs far less CPU per request than any Python client, which matters on a machine where the
client and the server share the cores. Request bodies travel through files that the Lua script reads in
binary mode, so uploads reach the server byte for byte.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WRK_THREADS = 2
# Far above any latency measured here: a slow request counts as slow, not as a socket timeout.
WRK_TIMEOUT = "30s"
_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


@dataclass(frozen=True)
class Request:
    """One HTTP request as wrk sends it; `label` says what it is in the results."""

    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None
    label: str = ""


@dataclass
class WrkResult:
    """What one wrk run measured; `statuses` is filled only by the counting script of `drive_requests`."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        figures = asdict(self)
        if not self.statuses:
            del figures["statuses"]
        return figures

    def summary(self) -> str:
        return (
            f"{self.requests_per_s:.1f} req/s, p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, "
            f"{self.non_2xx} non-2xx, {self.socket_errors} socket errors"
        )


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    """wrk's version, from the first line of `wrk -v` (which then prints its usage and exits non-zero)."""
    run = subprocess.run([wrk_binary() or "wrk", "-v"], capture_output=True, text=True, check=False)
    return (run.stdout or run.stderr).splitlines()[0].split(" Copyright")[0].strip()


def _lua_string(text: str) -> str:
    return f"[==[{text}]==]"


def _write_body(workdir: Path, request: Request) -> Path | None:
    if not request.body:
        return None
    with tempfile.NamedTemporaryFile(dir=workdir, suffix=".body", delete=False) as f:
        f.write(request.body)
    return Path(f.name)


def _single_request_lua(request: Request, body_path: Path | None) -> str:
    """A static request: wrk formats it once and resends the same bytes, the cheapest way it can load."""
    lines = [f"wrk.method = {_lua_string(request.method)}"]
    if request.content_type:
        lines.append(f'wrk.headers["Content-Type"] = {_lua_string(request.content_type)}')
    if body_path:
        lines += [
            f'local f = assert(io.open({_lua_string(str(body_path))}, "rb"))',
            'wrk.body = f:read("*a")',
            "f:close()",
        ]
    return "\n".join(lines) + "\n"


_CYCLE_LUA = """
local specs = {
%(specs)s
}
local prepared = {}
local next_index = 0
local responses = 0
local stop_after = %(stop_after)d
statuses = {}

function init(args)
  for _, s in ipairs(specs) do
    local headers = {}
    local body = nil
    if s[3] then headers["Content-Type"] = s[3] end
    if s[4] then
      local f = assert(io.open(s[4], "rb"))
      body = f:read("*a")
      f:close()
    end
    table.insert(prepared, wrk.format(s[1], s[2], headers, body))
  end
end

function request()
  next_index = next_index %% #prepared + 1
  return prepared[next_index]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  responses = responses + 1
  if responses >= stop_after then wrk.thread:stop() end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for key, count in pairs(t:get("statuses")) do io.write(string.format("STATUS %%s %%d\\n", key, count)) end
  end
end
"""


def _cycle_lua(requests: list[Request], body_paths: list[Path | None], stop_after: int) -> str:
    """Each wrk thread sends the requests in turn, counts responses by status, stops after `stop_after`."""

    def spec(request: Request, body_path: Path | None) -> str:
        fields = [request.method, request.path, request.content_type, str(body_path) if body_path else None]
        return "  {" + ", ".join(_lua_string(v) if v else "nil" for v in fields) + "},"

    specs = "\n".join(spec(r, p) for r, p in zip(requests, body_paths, strict=True))
    return _CYCLE_LUA % {"specs": specs, "stop_after": stop_after}


def parse_wrk_output(text: str) -> WrkResult:
    """Requests/sec, the 50% and 99% latencies, the request count and the errors of `wrk --latency`."""

    def number(pattern: str) -> float:
        match = re.search(pattern, text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def percentile_ms(percent: int) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)
        if not match:
            raise ValueError(f"no {percent}% latency in wrk's output:\n{text}")
        return float(match.group(1)) * _TIME_UNITS_MS[match.group(2)]

    statuses: Counter[str] = Counter()  # one line per wrk thread and status
    for match in re.finditer(r"^STATUS (\d+) (\d+)$", text, re.MULTILINE):
        statuses[match.group(1)] += int(match.group(2))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        requests_per_s=number(r"^Requests/sec:\s+([\d.]+)"),
        p50_ms=round(percentile_ms(50), 3),
        p99_ms=round(percentile_ms(99), 3),
        requests=int(number(r"^\s+(\d+) requests in")),
        non_2xx=int(number(r"Non-2xx or 3xx responses: (\d+)")),
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
        statuses=dict(statuses),
    )


def _run(url: str, script: str, connections: int, duration_s: int, workdir: Path) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", dir=workdir, suffix=".lua", delete=False) as f:
        f.write(script)
    threads = min(WRK_THREADS, connections)  # wrk refuses fewer connections than threads
    command = [wrk_binary() or "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s"]
    command += ["--latency", "--timeout", WRK_TIMEOUT, "-s", f.name, url]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({run.returncode}): {run.stderr.strip()}")
    return parse_wrk_output(run.stdout)


def run_wrk(base_url: str, request: Request, connections: int, duration_s: int, workdir: Path) -> WrkResult:
    """`request` sent over `connections` keep-alive connections for `duration_s` seconds."""
    script = _single_request_lua(request, _write_body(workdir, request))
    return _run(base_url + request.path, script, connections, duration_s, workdir)


def drive_requests(
    base_url: str,
    requests: list[Request],
    total: int,
    connections: int,
    workdir: Path,
    probe_s: int,
    rate: float | None = None,
) -> dict[str, Any]:
    """`total` responses to `requests` sent in turn, counted by status.

    wrk runs for its whole -d even when every thread has stopped at its share, so each run lasts about as
    long as the rest needs at `rate` (requests/s, as a previous call returned it); without one, a first run
    of `probe_s` measures it.
    """
    body_paths = [_write_body(workdir, r) for r in requests]
    statuses: Counter[str] = Counter()
    done, socket_errors, runs = 0, 0, 0
    start = time.perf_counter()
    while done < total:
        remaining = total - done
        duration_s = probe_s if rate is None else max(1, math.ceil(1.1 * remaining / rate))
        script = _cycle_lua(requests, body_paths, math.ceil(remaining / min(WRK_THREADS, connections)))
        result = _run(base_url, script, connections, duration_s, workdir)
        if result.requests == 0:
            raise RuntimeError(f"no response from {base_url} in {duration_s} s")
        if result.requests < remaining:  # it ran its whole -d: a fair measure of the rate
            rate = max(result.requests / duration_s, 1.0)
        done, runs = done + result.requests, runs + 1
        statuses.update(result.statuses)
        socket_errors += result.socket_errors
    return {
        "requests": done,
        "wall_s": round(time.perf_counter() - start, 2),
        "wrk_runs": runs,
        "rate": rate and round(rate, 1),
        "statuses": dict(sorted(statuses.items())),
        "socket_errors": socket_errors,
    }
