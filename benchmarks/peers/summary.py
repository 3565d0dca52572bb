"""The rounds reduced to what docs/peers.md reports: each server's medians, and cvae-serve's ratios to the
best peer at each of issue 25's targets. Pure functions of the recorded rounds."""

from __future__ import annotations

import operator
import statistics
from functools import reduce
from typing import Any

OURS = "cvae-serve"
CASE_FIGURES = ("requests_per_s", "images_per_s", "p50_ms", "p99_ms", "other_cpu_percent")
# key, what, the figure, whether more is better, the goal of cvae-serve / the best peer.
RATIOS = (
    ("n1_c16_rps", "n=1, 16 clients: req/s", ("cases", "n1_c16", "requests_per_s"), True, ">=", 2.5),
    ("n64_c16_rps", "n=64, 16 clients: req/s", ("cases", "n64_c16", "requests_per_s"), True, ">=", 1.5),
    ("n1_c1_p50", "n=1, 1 client: p50", ("cases", "n1_c1", "p50_ms"), False, "<=", 0.5),
    ("rss", "memory after the run (to the lightest peer)", ("rss_mb",), False, "<=", 0.5),
)
_OPERATORS = {">=": operator.ge, "<=": operator.le}


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _case_medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    figures: dict[str, Any] = {key: _median([run[key] for run in runs]) for key in CASE_FIGURES}
    figures["errors"] = sum(run["non_2xx"] + run["socket_errors"] for run in runs)
    return figures


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each server's figures, the median over the rounds (errors: the total)."""
    result: dict[str, Any] = {}
    for name in rounds[0]["servers"]:
        runs = [r["servers"][name] for r in rounds]
        result[name] = {
            "ready_s": _median([run["ready_s"] for run in runs]),
            "rss_mb": _median([run["rss_mb"] for run in runs]),
            "processes": runs[-1]["processes"],
            "cases": {key: _case_medians([run["cases"][key] for run in runs]) for key in runs[0]["cases"]},
        }
    return result


def ratios(figures: dict[str, Any]) -> dict[str, Any]:
    """cvae-serve's median over the best peer's median, at each target."""
    peers = {name: value for name, value in figures.items() if name != OURS}
    result = {}
    for key, what, path, more_is_better, op, goal in RATIOS:
        value = {name: reduce(operator.getitem, path, server) for name, server in figures.items()}
        best = (max if more_is_better else min)(peers, key=lambda name: value[name])
        ratio = round(value[OURS] / value[best], 3)
        result[key] = {
            "what": what,
            "value": ratio,
            "best_peer": best,
            "op": op,
            "goal": goal,
            "passed": _OPERATORS[op](ratio, goal),
        }
    return result
