"""The HTTP edge as one pure-ASGI middleware (cheaper than a stack of BaseHTTPMiddleware):
request id, CORS, body-size limit, security headers, RED metrics, access log and recovery.
"""

from __future__ import annotations

import re
import time
import traceback
import uuid
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from letsbet.platform.http.errors import error_body
from letsbet.platform.observability import (
    ERRORS,
    HTTP_IN_FLIGHT,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    get_logger,
)

log = get_logger("letsbet.http")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
]
_CSP = (
    b"content-security-policy",
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'",
)
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
# FastAPI's interactive docs load their own assets; the strict CSP would blank them.
_DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")


class BodyTooLarge(Exception):
    pass


class HttpEdge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: Callable[[], int],
        cors_origins: Callable[[], list[str]],
        hsts: bool = False,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.cors_origins = cors_origins
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        request_id = headers.get("x-request-id", "")
        if not _SANE_REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send, headers, request_id)

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], request_id: str
    ) -> None:
        started = time.perf_counter()
        method = scope["method"]
        origin = headers.get("origin")
        allowed_origin = self._allowed(origin)
        if method == "OPTIONS" and origin and "access-control-request-method" in headers:
            await self._preflight(send, allowed_origin, headers, request_id)
            return
        status = 500
        response_started = False
        extra_headers = [(b"x-request-id", request_id.encode()), *_SECURITY_HEADERS]
        if not scope["path"].startswith(_DOCS_PATHS):
            extra_headers.append(_CSP)
        if self.hsts:
            extra_headers.append(_HSTS)
        if allowed_origin:
            extra_headers += [
                (b"access-control-allow-origin", allowed_origin.encode()),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", b"X-Request-ID, Retry-After"),
                (b"vary", b"Origin"),
            ]

        too_large = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if too_large and not response_started:
                # The framework turned our abort into its own 400; answer what happened.
                response_started = True
                status = 413
                await self._too_large(send_wrapper_raw, limit, request_id)
                return
            if too_large:
                return
            await send_wrapper_raw(message)

        async def send_wrapper_raw(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = list(message.get("headers", [])) + extra_headers
            await send(message)

        limit = self.max_body_bytes()
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await self._too_large(send_wrapper_raw, limit, request_id)
            self._observe(scope, method, 413, started)
            return

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge()
            return message

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except BodyTooLarge:
            if not response_started:
                status = 413
                await self._too_large(send_wrapper_raw, limit, request_id)
        except Exception as exc:
            log.error(
                "http.unhandled_error",
                path=scope["path"],
                method=method,
                error=repr(exc),
                traceback=traceback.format_exc(),
            )
            if not response_started:
                status = 500
                await self._error(
                    send_wrapper_raw,
                    500,
                    "internal_error",
                    "Something went wrong on our side; it has been logged. "
                    "Retry, and quote the request id if it persists.",
                    request_id,
                )
        finally:
            HTTP_IN_FLIGHT.dec()
            self._observe(scope, method, status, started)

    def _observe(self, scope: Scope, method: str, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        template = getattr(route, "path", None) or "<unmatched>"
        HTTP_REQUESTS.labels(method, template, str(status)).inc()
        HTTP_LATENCY.labels(method, template).observe(elapsed)
        state = scope.get("state", {})
        if template not in ("/healthz", "/readyz", "/metrics"):
            log.info(
                "http.request",
                method=method,
                route=template,
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                user_id=state.get("user_id"),
            )

    def _allowed(self, origin: str | None) -> str | None:
        if not origin:
            return None
        origins = self.cors_origins()
        if "*" in origins or origin in origins:
            return origin
        return None

    async def _preflight(
        self, send: Send, allowed: str | None, headers: dict[str, str], request_id: str
    ) -> None:
        response_headers = [(b"x-request-id", request_id.encode()), (b"vary", b"Origin")]
        if allowed:
            response_headers += [
                (b"access-control-allow-origin", allowed.encode()),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
                (
                    b"access-control-allow-headers",
                    headers.get("access-control-request-headers", "").encode()[:512],
                ),
                (b"access-control-max-age", b"600"),
            ]
        await send(
            {
                "type": "http.response.start",
                "status": 204 if allowed else 403,
                "headers": response_headers,
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @classmethod
    async def _too_large(cls, send: Send, limit: int, request_id: str) -> None:
        message = f"The body is larger than {limit} bytes; send less."
        await cls._error(send, 413, "payload_too_large", message, request_id)

    @staticmethod
    async def _error(send: Send, status: int, code: str, message: str, request_id: str) -> None:
        ERRORS.labels(code).inc()
        body = orjson.dumps(error_body(request_id, code, message))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        out[key.decode("latin-1")] = value.decode("latin-1")
    return out


def client_ip(scope: MutableMapping[str, Any], trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        for key, value in scope.get("headers", []):
            if key == b"x-forwarded-for":
                # The rightmost entry is the one our own proxy appended; anything left of it
                # came from the client and can be forged.
                return str(value.decode("latin-1")).split(",")[-1].strip()[:64]
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
