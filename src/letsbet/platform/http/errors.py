"""One error shape everywhere: {"error": {"code", "message", "request_id", ...}}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from letsbet.errors import LetsbetError, TooManyRequests
from letsbet.platform.http.responses import OrjsonResponse
from letsbet.platform.observability import ERRORS

_HTTP_CODES = {
    400: ("bad_request", "The request is malformed."),
    401: ("unauthorized", "Authentication is required."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "No such resource; check the path."),
    405: ("method_not_allowed", "This method is not allowed on this path."),
    406: ("not_acceptable", "The requested content type is not available."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Send JSON with Content-Type: application/json."),
}


def error_body(request_id: str | None, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "request_id": request_id, **extra}}


def request_id_of(request: Request) -> str | None:
    request_id = request.scope.get("state", {}).get("request_id")
    return str(request_id) if request_id else None


def render(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> OrjsonResponse:
    ERRORS.labels(code).inc()
    return OrjsonResponse(
        error_body(request_id_of(request), code, message, **extra),
        status_code=status,
        headers=headers,
    )


async def _letsbet_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, LetsbetError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    if exc.status_code == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    extra = {"details": exc.details} if exc.details else {}
    return render(request, exc.status_code, exc.code, exc.message, headers, **extra)


async def _validation_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {
            "field": ".".join(str(part) for part in err["loc"] if part != "body") or "body",
            "message": str(err["msg"]).removeprefix("Value error, "),
            "type": err["type"],
        }
        for err in exc.errors()
    ]
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    return render(request, 422, "validation_error", message, fields=fields)


async def _http_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, message = _HTTP_CODES.get(exc.status_code, ("http_error", "The request failed."))
    if isinstance(exc.detail, str) and exc.detail and exc.status_code not in (404, 405):
        message = exc.detail
    return render(request, exc.status_code, code, message, dict(exc.headers or {}) or None)


async def _dependency_down(request: Request, exc: Exception) -> OrjsonResponse:
    """PostgreSQL or Redis unreachable mid-request: a 503 the client may retry, not a 500."""
    from letsbet.platform.observability import get_logger

    get_logger("letsbet.http").warning(
        "http.dependency_unavailable", error=type(exc).__name__, path=request.url.path
    )
    return render(
        request,
        503,
        "service_unavailable",
        "A required service is briefly unavailable; retry in a few seconds.",
        {"Retry-After": "2"},
    )


async def _database_error(request: Request, exc: Exception) -> OrjsonResponse:
    if is_dependency_outage(exc):
        return await _dependency_down(request, exc)
    # SQLSTATE class 22 (data exception): input PostgreSQL cannot store, such as a NUL
    # character in text or a timestamp out of range. The client's fault, not ours.
    if str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "").startswith("22"):
        return _unstorable(request)
    raise exc  # a real bug: the edge logs it and answers 500


def _unstorable(request: Request) -> OrjsonResponse:
    return render(
        request,
        422,
        "invalid_input",
        "The request contains a value that cannot be stored (a NUL character or a date out "
        "of range); remove it and retry.",
    )


async def _overflow(request: Request, exc: Exception) -> OrjsonResponse:
    """Dates near year 1 or 9999 overflow when shifted to UTC: bad input, not a crash."""
    return _unstorable(request)


def is_dependency_outage(exc: BaseException) -> bool:
    """Connection-level failures of PostgreSQL or Redis (not query or logic errors)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError, InterfaceError

    if isinstance(exc, RedisConnectionError | RedisTimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, DBAPIError):
        return (
            bool(exc.connection_invalidated)
            or isinstance(exc.orig, ConnectionError | OSError | TimeoutError)
            or "connection" in type(exc.orig).__name__.lower()
        )
    return isinstance(exc, OSError)


def install_error_handlers(app: FastAPI) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError

    app.add_exception_handler(LetsbetError, _letsbet_error)
    for kind in (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError):
        app.add_exception_handler(kind, _dependency_down)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OverflowError, _overflow)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
