"""A thin async Flutterwave v3 client. Answers look like {status, message, data}.

Creating a transfer is not idempotent on our side of a timeout: when the create call times out
or gets a 5xx, the transfer is looked up by its (unique) reference instead of being sent again.
"""

from __future__ import annotations

from typing import Any

import httpx

from letsbet.payments.flutterwave import wire
from letsbet.payments.http import ProviderError, ProviderUnavailable, call, json_body

PROVIDER = "flutterwave"


class FlutterwaveClient:
    def __init__(self, http: httpx.AsyncClient, *, base_url: str, secret_key: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {secret_key}"}

    async def _request(
        self, method: str, path: str, *, body: Any = None, params: Any = None
    ) -> Any:
        response = await self.http.request(
            method, f"{self.base_url}{path}", json=body, params=params, headers=self._headers
        )
        return _answer(response)

    async def hosted_payment(self, body: dict[str, Any]) -> str:
        answer = await call(
            PROVIDER,
            "payment",
            lambda: self._request("POST", "/v3/payments", body=body),
            idempotent=False,
        )
        try:
            return str(answer["data"]["link"])
        except (KeyError, TypeError):
            raise ProviderUnavailable(PROVIDER, "payment answer without a link") from None

    async def charge_ghana_mobile_money(self, body: dict[str, Any]) -> str | None:
        answer = await call(
            PROVIDER,
            "charge",
            lambda: self._request(
                "POST", "/v3/charges", body=body, params={"type": "mobile_money_ghana"}
            ),
            idempotent=False,
        )
        meta = answer.get("meta") or {}
        redirect = (meta.get("authorization") or {}).get("redirect")
        return str(redirect) if redirect else None

    async def verify(self, transaction_id: str) -> wire.Transaction:
        answer = await call(
            PROVIDER,
            "verify",
            lambda: self._request("GET", f"/v3/transactions/{transaction_id}/verify"),
            idempotent=True,
        )
        return wire.parse_transaction(answer.get("data"))

    async def verify_by_reference(self, tx_ref: str) -> wire.Transaction:
        answer = await call(
            PROVIDER,
            "verify",
            lambda: self._request(
                "GET", "/v3/transactions/verify_by_reference", params={"tx_ref": tx_ref}
            ),
            idempotent=True,
        )
        return wire.parse_transaction(answer.get("data"))

    async def create_transfer(self, body: dict[str, Any]) -> wire.Transfer:
        """Create a transfer; on a timeout or 5xx look it up by reference (never resend).
        ProviderUnavailable means its fate is still unknown: look it up again later."""
        try:
            answer = await call(
                PROVIDER,
                "transfer",
                lambda: self._request("POST", "/v3/transfers", body=body),
                idempotent=False,
            )
        except ProviderUnavailable:
            found = await self.find_transfer(str(body["reference"]))
            if found is None:
                raise
            return found
        return wire.parse_transfer(answer.get("data"))

    async def get_transfer(self, transfer_id: str) -> wire.Transfer:
        answer = await call(
            PROVIDER,
            "transfer_get",
            lambda: self._request("GET", f"/v3/transfers/{transfer_id}"),
            idempotent=True,
        )
        return wire.parse_transfer(answer.get("data"))

    async def find_transfer(self, reference: str) -> wire.Transfer | None:
        answer = await call(
            PROVIDER,
            "transfer_get",
            lambda: self._request("GET", "/v3/transfers", params={"reference": reference}),
            idempotent=True,
        )
        found = [t for t in answer.get("data") or [] if str(t.get("reference")) == reference]
        return wire.parse_transfer(found[0]) if found else None


def _answer(response: httpx.Response) -> Any:
    body = json_body(response)
    if response.is_success and isinstance(body, dict) and body.get("status") == "success":
        return body
    message = str(body.get("message", "")) if isinstance(body, dict) else response.text[:200]
    if response.status_code >= 500 or not isinstance(body, dict):
        raise ProviderUnavailable(PROVIDER, message, status=response.status_code)
    raise ProviderError(PROVIDER, response.status_code, "error", message)
