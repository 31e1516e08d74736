"""Open WebSockets of this process, so shutdown can close them with 1001 (going away).

Endpoints register each accepted socket for its lifetime:

    async with runtime.websockets.track(websocket):
        ...  # serve the client

On SIGTERM the role runner calls `close_all()` before the HTTP server stops, so clients see a
clean 1001 and reconnect to another replica instead of an abrupt drop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.websockets import WebSocket, WebSocketState

GOING_AWAY = 1001


class WebSocketRegistry:
    def __init__(self) -> None:
        self._open: set[WebSocket] = set()

    def __len__(self) -> int:
        return len(self._open)

    @asynccontextmanager
    async def track(self, websocket: WebSocket) -> AsyncIterator[WebSocket]:
        self._open.add(websocket)
        try:
            yield websocket
        finally:
            self._open.discard(websocket)

    async def close_all(self, code: int = GOING_AWAY, reason: str = "server shutting down") -> int:
        sockets = [ws for ws in self._open if ws.application_state == WebSocketState.CONNECTED]
        await asyncio.gather(*(_close(ws, code, reason) for ws in sockets))
        return len(sockets)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    try:
        await asyncio.wait_for(websocket.close(code=code, reason=reason), timeout=2)
    except Exception:  # already gone or too slow: the server will drop it anyway
        return
