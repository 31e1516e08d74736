"""The HTTP servers under load, each in its own process.

    python -m bench.server app  PORT URLS_JSON   # create_app(Runtime) : the real api
    python -m bench.server bare PORT             # bare Starlette, same small JSON: the baseline
    python -m bench.server fastapi PORT          # bare FastAPI, same route as /healthz

Both run uvicorn the way `letsbet serve api` does (httptools, uvloop, no access log, no
lifespan) on one event loop; SIGTERM stops them cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn
import uvloop


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers (it re-raises them after serve()); we own them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/", ok)])


def bare_fastapi() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def serve(kind: str, port: int, urls: dict[str, str] | None) -> None:
    runtime = None
    if kind == "app":
        from bench.common import make_settings
        from letsbet.app import create_app
        from letsbet.platform.observability import configure_logging
        from letsbet.platform.runtime import Runtime

        assert urls is not None
        settings = make_settings(urls)
        configure_logging(settings.log_level, settings.effective_log_format)
        runtime = Runtime.create(settings, role="api")
        await runtime.start()
        app = create_app(runtime)
    elif kind == "fastapi":
        app = bare_fastapi()
    else:
        app = bare_app()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="none",
        http="httptools",
        ws="websockets-sansio",  # as `letsbet serve` runs it (platform/roles.py)
        ws_per_message_deflate=False,  # as `letsbet serve` runs it
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        log_level="warning",
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    try:
        await server.serve()
    finally:
        if runtime is not None:
            await runtime.close()


def main(argv: list[str]) -> int:
    kind, port = argv[0], int(argv[1])
    urls = json.loads(argv[2]) if len(argv) > 2 else None
    uvloop.run(serve(kind, port, urls))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
