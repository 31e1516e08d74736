"""Helpers shared by the bench modules: settings, child processes, number formatting."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

from letsbet.platform.config import Settings, load_settings

# Effectively unlimited: the benchmarks measure the limiter's cost, never its refusals.
UNLIMITED = "1000000000/minute"


def make_settings(urls: dict[str, str], **overrides: Any) -> Settings:
    """Like tests/support.make_settings: real servers, rate limits out of the way, quiet logs."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": urls["database"],
        "redis_url": urls["redis"],
        "nats_url": urls["nats"],
        "jwt_secret": "bench-secret-" + "x" * 32,
        "rate_limit_default": UNLIMITED,
        "rate_limit_auth": UNLIMITED,
        "rate_limit_money": UNLIMITED,
        "log_level": "warning",
        "log_format": "console",
        "login_max_failures": 100,
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> Callable[[], None] | None:
    """preexec_fn: the child gets SIGTERM if the bench process dies (no stray servers)."""
    if not sys.platform.startswith("linux"):
        return None
    libc, parent = ctypes.CDLL(None, use_errno=True), os.getpid()

    def preexec() -> None:
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil
    return sorted_values[min(rank, len(sorted_values)) - 1]
