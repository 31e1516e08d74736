"""Smile ID's v1 REST API as the platform calls it: Enhanced KYC, sync or async."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from letsbet.compliance.kyc import wire
from letsbet.compliance.kyc.domain import (
    KycAuthorityUnavailable,
    KycProviderError,
    KycSignatureInvalid,
)
from letsbet.platform.observability import get_logger

log = get_logger(__name__)


class SmileIdClient:
    def __init__(
        self, http: httpx.AsyncClient, *, base_url: str, partner_id: str, api_key: str
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.partner_id = partner_id
        self.api_key = api_key

    async def verify(
        self, request: wire.IdRequest, now: datetime, *, callback_url: str | None = None
    ) -> wire.Result | None:
        """The result (sync), or None once an async job is accepted (the callback follows).
        Signed answers only: an unsigned or badly signed result is refused."""
        path = wire.ASYNC_PATH if callback_url else wire.SYNC_PATH
        body = wire.request_body(
            request,
            partner_id=self.partner_id,
            api_key=self.api_key,
            now=now,
            callback_url=callback_url,
        )
        try:
            response = await self.http.post(f"{self.base_url}{path}", json=body)
        except httpx.HTTPError as exc:
            raise KycAuthorityUnavailable(detail=type(exc).__name__) from exc
        payload = _json(response)
        if response.status_code >= 500:
            raise KycAuthorityUnavailable(status=response.status_code)
        if response.status_code >= 400 or not isinstance(payload, dict):
            code = str(payload.get("code")) if isinstance(payload, dict) else ""
            log.warning("kyc.smile_refused", status=response.status_code, code=code)
            raise KycProviderError(
                wire.ERROR_CODES.get(code, "Smile ID refused the request."), smile_code=code
            )
        if callback_url:
            return None
        if not wire.signature_valid(
            self.api_key, self.partner_id, payload.get("timestamp"), payload.get("signature")
        ):
            raise KycSignatureInvalid("Smile ID's answer is not signed with our key.")
        try:
            return wire.parse_result(payload)
        except ValueError as exc:
            raise KycProviderError("Smile ID answered without a result.") from exc


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
