"""Finished WebSocket frames written straight to a socket's transport: the crash fan-out's
fast path, and the one place that knows uvicorn's internals (tests/crash/test_wire.py fails if
the pinned uvicorn changes them).

A public frame is the same bytes for every uncompressed socket (RFC 6455 §5.2: a server's
frames are unmasked), so the hub encodes it once and hands those bytes to each transport:
no task wakes per socket, no per-socket framing. Starlette's `send_text` goes through
middleware wrappers and uvicorn's `send` (websockets' framing, a join, the write) for every
socket; that was most of the fan-out's CPU.

Only under uvicorn's websockets-sansio protocol (as `letsbet serve` runs it) and only when no
extension was negotiated (per-message deflate would need the bytes compressed per socket);
anywhere else `raw_socket` answers None and the caller keeps `send_text`.
"""

from __future__ import annotations

import asyncio
import importlib
import struct
from typing import Any

from starlette.websockets import WebSocket


def _protocol_class() -> type | None:
    """uvicorn's websockets-sansio protocol class: the adapter's only hold on its internals."""
    try:
        module = importlib.import_module("uvicorn.protocols.websockets.websockets_sansio_impl")
    except ImportError:  # pragma: no cover  (another server, or uvicorn without websockets)
        return None
    found = getattr(module, "WebSocketsSansIOProtocol", None)
    return found if isinstance(found, type) else None


_PROTOCOL = _protocol_class()
_FIN_TEXT = 0x81
_SHORT, _MEDIUM = struct.Struct("!BB"), struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame (server → client) carrying UTF-8 `payload`."""
    size = len(payload)
    if size < 126:
        return _SHORT.pack(_FIN_TEXT, size) + payload
    if size < 65536:
        return _MEDIUM.pack(_FIN_TEXT, 126, size) + payload
    return _LONG.pack(_FIN_TEXT, 127, size) + payload


class RawSocket:
    """A socket's transport, written to beside uvicorn: whole frames only, never after the
    closing handshake began (uvicorn's close frame must be the last frame on the wire)."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, protocol: Any, transport: asyncio.Transport) -> None:
        self._protocol = protocol
        self._transport = transport

    def write(self, frame: bytes) -> int:
        """Write one whole frame; the bytes the transport still holds for this socket after
        it (what the client has not taken yet), or -1 if it is closing (nothing written)."""
        protocol, transport = self._protocol, self._transport
        if protocol.close_sent or protocol.disconnected or transport.is_closing():
            return -1
        transport.write(frame)
        return transport.get_write_buffer_size()

    def abort(self) -> None:
        """Drop the connection now, buffered bytes and all (a client that stopped reading)."""
        self._transport.abort()


def raw_socket(websocket: WebSocket) -> RawSocket | None:
    """The accepted socket's transport if frames may be written to it directly, else None."""
    if _PROTOCOL is None:  # pragma: no cover
        return None
    # uvicorn hands the app its protocol's bound `receive`; middleware here leaves it as is.
    protocol = getattr(getattr(websocket, "_receive", None), "__self__", None)
    if not isinstance(protocol, _PROTOCOL):
        return None
    transport = getattr(protocol, "transport", None)
    conn = getattr(protocol, "conn", None)
    if (
        transport is None
        or conn is None
        or getattr(conn, "extensions", None) != []  # deflate (or anything) negotiated
        or not getattr(protocol, "handshake_complete", False)
        or not isinstance(getattr(protocol, "close_sent", None), bool)
        or not isinstance(getattr(protocol, "disconnected", None), bool)
    ):
        return None
    return RawSocket(protocol, transport)
