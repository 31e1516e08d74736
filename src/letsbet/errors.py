"""The error tree: every business error carries its HTTP status and a stable machine code.

    LetsbetError                      status, code, message, details
    ├── BadRequest          400       bad_request
    ├── Unauthorized        401       unauthorized (invalid_token, token_expired, token_reused, ...)
    ├── Forbidden           403       forbidden (country_not_allowed, ...)
    ├── NotFound            404       not_found
    ├── Conflict            409       conflict (phone_taken, idempotency_conflict, ...)
    ├── Unprocessable       422       validation_error
    ├── TooManyRequests     429       rate_limited, login_locked (retry_after seconds)
    └── Unavailable         503       service_unavailable

Domains subclass these (ledger.InsufficientFunds → 409 insufficient_funds); one handler in
`platform.http.errors` renders them all as {"error": {"code", "message", "request_id"}}.
"""

from __future__ import annotations

from typing import Any


class LetsbetError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    message: str = "The request could not be processed."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, **details: Any
    ) -> None:
        self.message = message or type(self).message
        if code is not None:
            self.code = code
        self.details = details
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class BadRequest(LetsbetError):
    status_code = 400
    code = "bad_request"


class Unauthorized(LetsbetError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication is required."


class Forbidden(LetsbetError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(LetsbetError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(LetsbetError):
    status_code = 409
    code = "conflict"


class Unprocessable(LetsbetError):
    status_code = 422
    code = "validation_error"


class TooManyRequests(LetsbetError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests; slow down and retry later."

    def __init__(self, message: str | None = None, *, retry_after: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = max(1, retry_after)


class Unavailable(LetsbetError):
    status_code = 503
    code = "service_unavailable"
    message = "A required service is unavailable; retry shortly."
