"""The CPUs the worker count comes from: affinity capped by the cgroup quota, read from fake cgroup trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cpus import cgroup_cpu_limit, usable_cpus


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _v2(tmp_path: Path, cpu_max: dict[str, str], path: str = "/system.slice/cvae.service") -> float | None:
    """A cgroup v2 tree with cpu.max at each given directory, the process at `path`."""
    root = tmp_path / "cgroup"
    for directory, text in cpu_max.items():
        _write(root / directory.lstrip("/") / "cpu.max", text)
    (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    _write(tmp_path / "self-cgroup", f"0::{path}\n")
    return cgroup_cpu_limit(root, tmp_path / "self-cgroup")


def test_v2_quota_on_the_process_cgroup(tmp_path: Path) -> None:
    assert _v2(tmp_path, {"/system.slice/cvae.service": "150000 100000\n"}) == 1.5


def test_v2_the_tightest_quota_on_the_path_wins_an_ancestor_included(tmp_path: Path) -> None:
    limits = {"/": "max 100000", "/system.slice": "200000 100000", "/system.slice/cvae.service": "max 100000"}
    assert _v2(tmp_path, limits) == 2.0


def test_v2_without_a_quota_there_is_no_limit(tmp_path: Path) -> None:
    assert _v2(tmp_path, {"/system.slice/cvae.service": "max 100000"}) is None


def test_v1_cpu_controller_quota(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "cpu" / "docker" / "abc" / "cpu.cfs_quota_us", "300000\n")
    _write(root / "cpu" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    _write(root / "cpu" / "cpu.cfs_quota_us", "-1\n")
    _write(root / "cpu" / "cpu.cfs_period_us", "100000\n")
    _write(tmp_path / "self-cgroup", "4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n0::/\n")
    assert cgroup_cpu_limit(root, tmp_path / "self-cgroup") == 3.0


def test_no_cgroup_filesystem_means_no_limit(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path / "absent", tmp_path / "absent-self") is None


@pytest.mark.parametrize(
    ("affinity", "quota", "expected"),
    [(8, None, 8), (8, 2.0, 2), (8, 2.5, 2), (8, 0.5, 1), (2, 16.0, 2), (1, None, 1)],
)
def test_usable_cpus_is_the_affinity_capped_by_the_quota_rounded_down(
    affinity: int, quota: float | None, expected: int
) -> None:
    assert usable_cpus(lambda: affinity, lambda: quota) == expected
