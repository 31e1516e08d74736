"""Lean WebSocket spectators for the crash fan-out bench, many per process.

    python -m bench.ws_clients HOST PORT PATH COUNT

Each client is a bare asyncio Protocol: an HTTP upgrade, then server frames parsed by hand
(unmasked, uncompressed: we offer no extension) and pings answered, with no task per connection,
so one process holds thousands of sockets and spends its time reading, not in a library.

Lines on stdout: `ready CONNECTED FAILED` once every client has tried; then, after `go SECONDS`
on stdin, a JSON line with the tick latencies (ms histogram, from each tick's server_time to
its arrival), ticks received per client and sockets the server closed.
"""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import struct
import sys
import time
from collections import Counter
from typing import Any

import orjson
import uvloop

CONNECT_CONCURRENCY = 100
_MARK = b'"server_time":'


class Stats:
    def __init__(self) -> None:
        self.recording = False
        self.latency: Counter[int] = Counter()  # ms → ticks
        self.closed = 0


class Spectator(asyncio.Protocol):
    def __init__(self, stats: Stats, request: bytes, ready: asyncio.Future[bool]) -> None:
        self.stats = stats
        self.request = request
        self.ready = ready
        self.buffer = b""
        self.upgraded = False
        self.ticks = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upgraded:
            self.stats.closed += 1
        if not self.ready.done():
            self.ready.set_result(False)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            ok = buffer.startswith(b"HTTP/1.1 101")
            self.upgraded = ok
            if not self.ready.done():
                self.ready.set_result(ok)
            buffer = buffer[end + 4 :]
        now_ms = time.time_ns() / 1e6
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            opcode, length = buffer[pos] & 0x0F, buffer[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = struct.unpack_from("!H", buffer, pos + 2)[0], 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = struct.unpack_from("!Q", buffer, pos + 2)[0], 10
            if size - pos < head + length:
                break
            payload = buffer[pos + head : pos + head + length]
            pos += head + length
            if opcode == 0x1:
                self._text(payload, now_ms)
            elif opcode == 0x9:  # ping: answer, or the server's keepalive drops us
                self._send(0xA, payload)
        self.buffer = buffer[pos:]

    def _text(self, payload: bytes, now_ms: float) -> None:
        at = payload.find(_MARK)
        if at < 0 or not payload.startswith(b'{"type":"tick"'):
            return
        start = at + len(_MARK)
        sent = int(payload[start : start + 13])  # epoch milliseconds: 13 digits until 2286
        self.ticks += 1
        if self.stats.recording:
            self.stats.latency[max(0, int(now_ms - sent))] += 1

    def _send(self, opcode: int, payload: bytes) -> None:
        # Client frames are masked (RFC 6455); a zero mask keeps the payload as is.
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)


def _request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def _connect(
    host: str, port: int, path: str, stats: Stats, gate: asyncio.Semaphore
) -> Spectator | None:
    loop = asyncio.get_running_loop()
    async with gate:
        ready: asyncio.Future[bool] = loop.create_future()
        try:
            _, client = await loop.create_connection(
                lambda: Spectator(stats, _request(host, port, path), ready), host, port
            )
            ok = await asyncio.wait_for(ready, 30)
        except (OSError, TimeoutError):
            return None
    return client if ok else None


async def main(host: str, port: int, path: str, count: int) -> None:
    raise_fd_limit()
    stats = Stats()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients = await asyncio.gather(*(_connect(host, port, path, stats, gate) for _ in range(count)))
    live = [c for c in clients if c is not None]
    print(f"ready {len(live)} {count - len(live)}", flush=True)
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    seconds = float(line.split()[1])
    for client in live:
        client.ticks = 0
    stats.recording = True
    await asyncio.sleep(seconds)
    stats.recording = False
    result: dict[str, Any] = {
        "latency": {str(ms): n for ms, n in stats.latency.items()},
        "ticks": [c.ticks for c in live],
        "closed": stats.closed,
    }
    print(orjson.dumps(result).decode(), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop", or EOF when the bench ends
    for client in live:
        if client.transport is not None:
            client.transport.close()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
