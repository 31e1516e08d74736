"""Liveness (/healthz: the process answers), readiness (/readyz: every dependency, by name)
and Prometheus metrics (/metrics)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from letsbet.platform.http.responses import OrjsonResponse
from letsbet.platform.runtime import Runtime

router = APIRouter(tags=["platform"])
_CHECK_TIMEOUT = 1.5


async def _check(probe: Callable[[], Awaitable[object]]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout=_CHECK_TIMEOUT)
    except Exception as exc:
        # The type only: messages carry internal hosts and ports, and this endpoint is public.
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def readiness(runtime: Runtime) -> tuple[bool, dict[str, object]]:
    postgres, redis, nats = await asyncio.gather(
        _check(runtime.db.ping), _check(runtime.redis.ping), _check(runtime.bus.ping)
    )
    checks = {"postgres": postgres, "redis": redis, "nats": nats}
    ready = not runtime.draining and all(c["status"] == "ok" for c in checks.values())
    body: dict[str, object] = {
        "status": "ready" if ready else ("draining" if runtime.draining else "not_ready"),
        "role": runtime.role,
        "checks": checks,
    }
    return ready, body


@router.get("/healthz", summary="Liveness: the process is up (no dependency checks)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: PostgreSQL, Redis and NATS, each by name")
async def readyz(request: Request) -> OrjsonResponse:
    ready, body = await readiness(request.app.state.runtime)
    return OrjsonResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
