"""A thin async Daraja client: OAuth token cache, STK Push, STK query, B2C.

Errors come as {requestId, errorCode, errorMessage}; a 401/404 "Invalid Access Token"
(404.001.03) refreshes the token once. An STK query answered HTTP 500 with 500.001.1001 means
"still processing", which is a result (StillProcessing), not an outage.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from letsbet.payments.http import ProviderError, ProviderUnavailable, call, json_body
from letsbet.payments.mpesa import wire

PROVIDER = "mpesa"
TOKEN_MARGIN_SECONDS = 60  # refresh this long before Daraja says the token expires


class StillProcessing(Exception):
    """STK query: the customer has not finished yet (HTTP 500, errorCode 500.001.1001)."""


@dataclass(frozen=True, slots=True)
class StkAccepted:
    merchant_request_id: str
    checkout_request_id: str
    description: str


@dataclass(frozen=True, slots=True)
class StkStatus:
    result_code: int
    result_desc: str


@dataclass(frozen=True, slots=True)
class B2CAccepted:
    conversation_id: str
    originator_id: str


class DarajaClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._basic = base64.b64encode(f"{consumer_key}:{consumer_secret}".encode()).decode()
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    # -- OAuth -------------------------------------------------------------------------------
    async def token(self) -> str:
        if self._token is not None and time.monotonic() < self._expires:
            return self._token
        async with self._lock:  # one refresh however many requests need a token
            if self._token is not None and time.monotonic() < self._expires:
                return self._token
            body = await call(PROVIDER, "oauth", self._fetch_token, idempotent=True)
            try:
                token = str(body["access_token"])
                lifetime = int(str(body["expires_in"]))  # a string of seconds on the wire
            except (KeyError, TypeError, ValueError):
                raise ProviderUnavailable(PROVIDER, "malformed token response") from None
            self._token = token
            self._expires = time.monotonic() + max(0, lifetime - TOKEN_MARGIN_SECONDS)
            return token

    async def _fetch_token(self) -> Any:
        response = await self.http.get(
            f"{self.base_url}/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {self._basic}"},
        )
        return _answer(response)

    def forget_token(self) -> None:
        self._token = None
        self._expires = 0.0

    # -- calls -------------------------------------------------------------------------------
    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        for attempt in range(2):
            token = await self.token()
            response = await self.http.post(
                f"{self.base_url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            if attempt == 0 and _invalid_token(response):
                self.forget_token()
                continue
            return _answer(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def stk_push(self, request: wire.StkPush, now: datetime) -> StkAccepted:
        body = wire.stk_push_body(request, now)
        answer = await call(
            PROVIDER,
            "stk_push",
            lambda: self._post("/mpesa/stkpush/v1/processrequest", body),
            idempotent=False,
        )
        if str(answer.get("ResponseCode")) != "0":
            raise ProviderError(
                PROVIDER,
                200,
                str(answer.get("ResponseCode")),
                str(answer.get("ResponseDescription")),
            )
        return StkAccepted(
            merchant_request_id=str(answer["MerchantRequestID"]),
            checkout_request_id=str(answer["CheckoutRequestID"]),
            description=str(answer.get("CustomerMessage", "")),
        )

    async def stk_query(
        self, shortcode: str, passkey: str, checkout_id: str, now: datetime
    ) -> StkStatus:
        body = wire.stk_query_body(shortcode, passkey, checkout_id, now)

        async def attempt() -> Any:
            try:
                return await self._post("/mpesa/stkpushquery/v1/query", body)
            except ProviderUnavailable as exc:
                if exc.detail == wire.STILL_PROCESSING:
                    raise StillProcessing() from None
                raise

        answer = await call(PROVIDER, "stk_query", attempt, idempotent=True)
        try:
            return StkStatus(int(answer["ResultCode"]), str(answer.get("ResultDesc", "")))
        except (KeyError, TypeError, ValueError):
            raise ProviderUnavailable(PROVIDER, "malformed query response") from None

    async def b2c(self, request: wire.B2C) -> B2CAccepted:
        body = wire.b2c_body(request)
        answer = await call(
            PROVIDER,
            "b2c",
            lambda: self._post("/mpesa/b2c/v3/paymentrequest", body),
            idempotent=False,
        )
        if str(answer.get("ResponseCode")) != "0":
            raise ProviderError(
                PROVIDER,
                200,
                str(answer.get("ResponseCode")),
                str(answer.get("ResponseDescription")),
            )
        return B2CAccepted(
            conversation_id=str(answer.get("ConversationID", "")),
            originator_id=str(answer.get("OriginatorConversationID", request.originator_id)),
        )


def _invalid_token(response: httpx.Response) -> bool:
    if response.status_code not in (401, 404):
        return False
    body = json_body(response)
    return isinstance(body, dict) and body.get("errorCode") == wire.INVALID_TOKEN


def _answer(response: httpx.Response) -> Any:
    """The JSON body of a 2xx; ProviderError for 4xx, ProviderUnavailable for 5xx/garbage."""
    body = json_body(response)
    if response.is_success and isinstance(body, dict):
        return body
    code = str(body.get("errorCode", "")) if isinstance(body, dict) else ""
    message = str(body.get("errorMessage", "")) if isinstance(body, dict) else response.text[:200]
    if response.status_code >= 500 or not isinstance(body, dict):
        raise ProviderUnavailable(PROVIDER, code or message, status=response.status_code)
    raise ProviderError(PROVIDER, response.status_code, code, message)
