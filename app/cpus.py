"""How many CPUs this process may use: its affinity, capped by its cgroup's CPU quota.

os.cpu_count() is the host's count. A container limited to 2 CPUs on a 64-core node, or a process pinned
with taskset, that started a worker per host core would run 64 event loops and model threads on 2 cores'
worth of time, each throttled by the kernel. What the process may run on is the smaller of the CPUs in its
affinity mask and its quota (quota / period, rounded down, at least 1), the rule container-aware runtimes
(Go's automaxprocs, the JVM) follow.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _v2_quota(directory: Path) -> float | None:
    """CPUs from cgroup v2's cpu.max ("max 100000" or "150000 100000"); None for no limit."""
    quota, _, period = (directory / "cpu.max").read_text().strip().partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def _v1_quota(directory: Path) -> float | None:
    quota = int((directory / "cpu.cfs_quota_us").read_text())
    return None if quota <= 0 else quota / int((directory / "cpu.cfs_period_us").read_text())


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The tightest CPU quota on this process's cgroup path (v2) or its cpu controller (v1), in CPUs; None
    when there is none, or no cgroup filesystem to read.

    A quota may sit on any ancestor (systemd sets it on a slice), so the path is walked up to the root; in a
    container the root is the container's own cgroup."""
    limits: list[float] = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and not controllers:
            directory, top, read = root / path.lstrip("/"), root, _v2_quota
        elif "cpu" in controllers.split(","):
            top = root / "cpu" if (root / "cpu").is_dir() else root / controllers
            directory = top / path.lstrip("/")
            read = _v1_quota
        else:
            continue
        for candidate in [directory, *directory.parents]:
            try:
                limit = read(candidate)
            except (OSError, ValueError):
                limit = None
            if limit is not None:
                limits.append(limit)
            if candidate == top:
                break
    return min(limits) if limits else None


def usable_cpus(
    affinity: Callable[[], int] = _affinity, limit: Callable[[], float | None] = cgroup_cpu_limit
) -> int:
    """The CPUs this process may keep busy: the affinity mask's count, capped by the cgroup quota."""
    count = affinity()
    quota = limit()
    if quota is not None:
        count = min(count, max(1, math.floor(quota)))
    return max(1, count)
