"""Shutdown closes open WebSockets with 1001 over a real socket (uvicorn + websockets client)."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from letsbet.app import create_app
from letsbet.platform.roles import HttpServer
from letsbet.platform.runtime import Runtime
from tests.support import free_port, poll_until


async def test_close_all_sends_going_away(runtime: Runtime) -> None:
    app = create_app(runtime)

    @app.websocket("/ws/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async with runtime.websockets.track(websocket):
            while True:
                await websocket.send_text(await websocket.receive_text())

    port = free_port()
    server = HttpServer(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_config=None,
            ws="websockets-sansio",
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        await poll_until(lambda: _started(server), timeout=10)
        async with connect(f"ws://127.0.0.1:{port}/ws/echo") as client:
            await client.send("ping")
            assert await client.recv() == "ping"
            assert len(runtime.websockets) == 1
            assert await runtime.websockets.close_all() == 1
            try:
                await asyncio.wait_for(client.recv(), timeout=5)
                raise AssertionError("the server did not close the socket")
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1001
        await poll_until(lambda: _empty(runtime), timeout=5)
    finally:
        server.should_exit = True
        await serving


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)


async def _empty(runtime: Runtime) -> bool:
    return len(runtime.websockets) == 0
