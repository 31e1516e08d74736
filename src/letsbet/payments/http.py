"""What every provider client shares: errors, bounded retries, timing.

    ProviderError                 the provider answered, and said no (a definite rejection)
    ProviderUnavailable           no usable answer: transport error, timeout or 5xx. The request
                                  may or may not have been acted on; never assume either.

Retries (tenacity, jittered exponential backoff, bounded): idempotent calls (token, queries,
look-ups) retry transport errors and 5xx; creating calls (STK Push, B2C, transfers) retry only
when the connection was never made, so a request that may have arrived is never sent twice.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from letsbet.platform.observability import PAYMENT_PROVIDER_CALLS

T = TypeVar("T")


class ProviderError(Exception):
    def __init__(self, provider: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{provider} {status} {code}: {message}")
        self.provider = provider
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ProviderError({self.provider!r}, {self.status}, {self.code!r}, {self.message!r})"


class ProviderUnavailable(Exception):
    def __init__(self, provider: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider} unavailable: {detail}")
        self.provider = provider
        self.detail = detail
        self.status = status


def _never_sent(exc: BaseException) -> bool:
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError) or (
        isinstance(exc, ProviderUnavailable) and exc.status is not None and exc.status >= 500
    )


async def call(
    provider: str,
    operation: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    idempotent: bool,
    attempts: int = 3,
    initial_wait: float = 0.1,
) -> T:
    """Run `attempt` with the retry policy above; transport errors become ProviderUnavailable."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        async for trial in AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(initial=initial_wait, max=2.0),
            retry=retry_if_exception(_transient if idempotent else _never_sent),
            reraise=True,
        ):
            with trial:
                return await attempt()
    except ProviderError:
        outcome = "rejected"
        raise
    except ProviderUnavailable:
        outcome = "unavailable"
        raise
    except httpx.HTTPError as exc:
        outcome = "unavailable"
        raise ProviderUnavailable(provider, type(exc).__name__) from exc
    finally:
        PAYMENT_PROVIDER_CALLS.labels(provider, operation, outcome).observe(
            time.perf_counter() - started
        )
    raise AssertionError("unreachable")  # pragma: no cover


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
