"""What both simulators share: asynchronous callback delivery and an embeddable HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import string
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from letsbet.platform.observability import get_logger

log = get_logger(__name__)


def random_code(length: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class Deliverer:
    """Posts callbacks after a delay, in the background, as a provider does; `copies` > 1
    re-delivers the same body (providers retry, and so must our receivers cope)."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(timeout=10)
        self.tasks: set[asyncio.Task[None]] = set()
        self.delivered: list[tuple[str, int]] = []  # (url, status) for tests and debugging

    def send(
        self,
        url: str,
        body: Any,
        *,
        delay: float,
        copies: int = 1,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> asyncio.Task[None]:
        task = asyncio.create_task(self._send(url, body, delay, copies, headers or {}, raw))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _send(
        self,
        url: str,
        body: Any,
        delay: float,
        copies: int,
        headers: Mapping[str, str],
        raw: bytes | None,
    ) -> None:
        await asyncio.sleep(delay)
        content = raw if raw is not None else orjson.dumps(body)
        for _ in range(max(1, copies)):
            try:
                response = await self.http.post(
                    url,
                    content=content,
                    headers={"Content-Type": "application/json", **headers},
                )
                self.delivered.append((url, response.status_code))
            except httpx.HTTPError as exc:
                log.warning("simulator.callback_failed", url=url, error=type(exc).__name__)
                self.delivered.append((url, 0))

    async def idle(self) -> None:
        """Wait for every scheduled delivery (tests)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)
        await self.http.aclose()


async def json_of(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None


def switches_route(app: Starlette, switches: Any) -> None:
    """GET/POST /simulator/config: read or change behaviour switches at run time."""

    async def config(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await json_of(request)
            if not isinstance(body, dict):
                return JSONResponse({"error": "send a JSON object"}, status_code=400)
            for key, value in body.items():
                if not hasattr(switches, key):
                    return JSONResponse({"error": f"unknown switch {key}"}, status_code=400)
                setattr(switches, key, type(getattr(switches, key))(value))
        return JSONResponse(vars(switches))

    app.add_route("/simulator/config", config, methods=["GET", "POST"])


class Server(uvicorn.Server):
    """uvicorn in the current event loop, without its own signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Running:
    """A simulator served on host:port inside the current event loop: start(), then stop()."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.server = Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                loop="none",
                lifespan="off",
                access_log=False,
                log_config=None,
                timeout_graceful_shutdown=1,
            )
        )
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Running:
        self.task = asyncio.create_task(self.server.serve(), name=f"simulator-{self.port}")
        while not self.server.started:  # uvicorn exposes a flag, not an event
            if self.task.done():
                self.task.result()  # raises the bind error
                raise RuntimeError(f"simulator on port {self.port} did not start")
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        state = getattr(self.app, "state", None)
        closer = getattr(state, "simulator", None)
        if closer is not None:
            await closer.aclose()
