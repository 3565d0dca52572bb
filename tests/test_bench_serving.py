"""The serving benchmark (benchmarks/serving.py): wrk's report parsed, and its smoke mode run end to end.

The smoke run starts the real servers and drives them with wrk for a few seconds each; the tests check the
record's shape, that every figure is there and positive, and that no healthy request failed. Timings are
never asserted: they depend on the machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.serving import SMOKE, parse_args
from benchmarks.wrk import parse_wrk_output

REPO = Path(__file__).resolve().parents[1]
needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (/usr/bin/wrk; Debian: apt-get install wrk)"
)

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8000/v1/sample
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.12ms    1.20ms  20.00ms   90.00%
    Req/Sec   210.00     20.00   250.00     70.00%
  Latency Distribution
     50%  850.00us
     75%    9.50ms
     90%   10.00ms
     99%    1.25s
  420 requests in 1.00s, 200.00KB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:    419.50
Transfer/sec:    199.00KB
STATUS 200 200
STATUS 422 7
STATUS 200 213
"""


def test_wrk_report_parsed_with_units_errors_and_per_thread_statuses() -> None:
    result = parse_wrk_output(WRK_OUTPUT)
    assert result.requests_per_s == 419.5
    assert result.p50_ms == 0.85 and result.p99_ms == 1250.0
    assert result.requests == 420
    assert result.non_2xx == 7 and result.socket_errors == 3
    assert result.statuses == {"200": 413, "422": 7}  # one STATUS line per wrk thread, summed


def test_smoke_needs_its_own_out_dir() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--smoke"])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench-serve")
    command = [sys.executable, "-m", "benchmarks.serving", "--smoke", "--out-dir", str(out)]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return json.loads((out / "serving.json").read_text()), out


def _assert_healthy_run(run: dict[str, Any]) -> None:
    assert run["requests"] > 0
    assert run["requests_per_s"] > 0
    assert 0 < run["p50_ms"] <= run["p99_ms"]
    assert run["non_2xx"] == 0
    assert run["socket_errors"] == 0
    assert run["other_cpu_percent"] >= 0


@needs_wrk
def test_smoke_writes_record_page_and_plot(smoke: tuple[dict[str, Any], Path]) -> None:
    results, out = smoke
    assert results["mode"] == "smoke"
    page = (out / "benchmarks.md").read_text()
    assert "## Targets" in page and "](serving-latency-vs-n.png)" in page
    assert (out / "serving-latency-vs-n.png").read_bytes().startswith(b"\x89PNG")
    machine = results["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["torch"] and machine["date"]
    assert isinstance(machine["avx512_bf16"], bool)
    assert isinstance(results["settings"]["env"], dict) and "max_n" in results["settings"]["resolved"]
    assert 500_000 < results["photo_bytes"] < 1_500_000


@needs_wrk
def test_smoke_measures_every_route_without_errors(smoke: tuple[dict[str, Any], Path]) -> None:
    cpu = smoke[0]["cpu"]
    assert cpu["server"]["device"] == "cpu"
    assert cpu["server"]["cold_start_s"] > 0 and cpu["server"]["rss_mb_after_start"] > 0
    expected_routes = {
        "healthz",
        "sample_n1",
        "sample_n4",
        "number_4",
        "sample_n64",
        "sample_png_n64",
        "reconstruct_photo_given",
        "reconstruct_photo_inferred",
    }
    assert set(cpu["routes"]) == expected_routes
    for route in cpu["routes"].values():
        for connections in SMOKE.concurrencies:
            _assert_healthy_run(route[f"c{connections}"])
    assert cpu["routes"]["sample_n64"]["c1"]["images_per_s"] > 0
    _assert_healthy_run(cpu["hello_world"][f"c{SMOKE.reference_connections}"])
    assert [row["n"] for row in cpu["latency_vs_n"]] == list(SMOKE.latency_ns)
    for row in cpu["latency_vs_n"]:
        _assert_healthy_run(row)


@needs_wrk
def test_smoke_references_ratios_and_targets(smoke: tuple[dict[str, Any], Path]) -> None:
    results = smoke[0]
    cpu = results["cpu"]
    for reference in (cpu["in_process"]["before"], cpu["in_process"]["after"]):
        assert reference["images_per_s"] > 0 and reference["other_cpu_percent"] >= 0
    assert set(cpu["ratios"]) == {
        "n1_over_healthz",
        "n1_over_limit",
        "n64_over_in_process",
        "healthz_over_hello_world",
        "sample_n1_p99_over_p50",
        "reconstruct_inferred_over_given_p50",
        "number4_over_sample_n4",
    }
    assert all(value > 0 for value in cpu["ratios"].values())
    assert set(results["targets"]) == {
        "ratio_n1",
        "ratio_limit",
        "workers",
        "ratio_n64",
        "ratio_healthz",
        "tail_n1",
        "reconstruct",
        "lone_client",
        "number",
        "cold_start",
        "rss_first",
        "rss_growth",
    }
    free = cpu["model_free"]
    assert free["sample_n1"]["non_2xx"] == 0 and free["healthz"]["non_2xx"] == 0
    assert free["ratio_n1_over_healthz"] > 0
    assert all(isinstance(target["passed"], bool) for target in results["targets"].values())
    batching = cpu["batching"]
    if batching["started"]:
        assert batching["p50_ms_on"] > 0 and batching["p50_ms_off"] > 0
    else:
        assert batching["error"]  # the batching-off server was refused: recorded, not fatal
    assert cpu["workers"] is None  # not in smoke mode
    assert results["cuda"] is None or results["cuda"]["routes"]


@needs_wrk
def test_smoke_mixed_load_gets_only_expected_statuses(smoke: tuple[dict[str, Any], Path]) -> None:
    memory = smoke[0]["cpu"]["memory"]
    assert memory["rss_mb_before"] > 0
    assert len(memory["phases"]) == 2
    for phase in memory["phases"]:
        assert phase["requests"] >= SMOKE.memory_requests
        assert phase["unexpected"] == 0
        assert {"200", "415", "422"} <= set(phase["statuses"])
        assert phase["rss_mb_after"] > 0
