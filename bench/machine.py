"""What the figures were measured on."""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError):
        pass
    return None


def background_load(seconds: float = 1.0) -> float:
    """Share of all cores busy before the bench starts anything (other work on the machine)."""
    import psutil

    return float(psutil.cpu_percent(interval=seconds)) / 100


def _spin(seconds: float) -> int:
    import hashlib

    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        hashlib.sha256(b"letsbet" * 8).digest()
        count += 1
    return count


def parallel_scaling(seconds: float = 1.0) -> float:
    """Work done by one CPU-bound process per core vs by one alone (2.0 = two real cores).

    Shared or overcommitted VMs often give much less than their vCPU count suggests, which
    changes how every figure below should be read.
    """
    import multiprocessing

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    alone = _spin(seconds)
    with multiprocessing.get_context("spawn").Pool(cores or 1) as pool:
        together = sum(pool.map(_spin, [seconds] * (cores or 1)))
    return together / alone


def info(background: float, scaling: float) -> dict[str, str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = _memory_gib()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": f"{usable} usable ({os.cpu_count()} online)",
        "memory": f"{memory:.1f} GiB" if memory else "unknown",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(terse=True),
        "background": f"{background:.0%} of all cores busy just before the bench started",
        "scaling": f"{scaling:.2f}x one core's CPU-bound work when every core runs a process",
    }
