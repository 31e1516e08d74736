"""The Smile ID client this process uses, built once from settings (like payments' Gateway).
In simulator mode unset credentials fall back to the simulator's public test ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from letsbet.compliance.kyc.client import SmileIdClient
from letsbet.platform.config import ProviderMode, Settings

SIM_PARTNER_ID = "2205"  # the simulator's test partner
SIM_API_KEY = "letsbet-smile-id-simulator-api-key"
CALLBACK_PATH = "/api/kyc/smile-id/callback"
_EXTRA_KEY = "kyc.smile_id"


@dataclass
class SmileId:
    client: SmileIdClient
    partner_id: str
    api_key: str
    callback_url: str | None  # set: checks run async
    hash_key: str  # keys the stored id-number hashes
    http: httpx.AsyncClient

    async def aclose(self) -> None:
        await self.http.aclose()


def build(settings: Settings) -> SmileId:
    simulated = settings.smile_id_env == ProviderMode.SIMULATOR
    partner_id = settings.smile_id_partner_id or (SIM_PARTNER_ID if simulated else "")
    api_key = settings.smile_id_api_key or (SIM_API_KEY if simulated else "")
    timeout = settings.payments_http_timeout_seconds
    http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(3.0, timeout)))
    base = settings.smile_id_callback_base_url.rstrip("/")
    return SmileId(
        client=SmileIdClient(
            http, base_url=settings.smile_id_url(), partner_id=partner_id, api_key=api_key
        ),
        partner_id=partner_id,
        api_key=api_key,
        callback_url=f"{base}{CALLBACK_PATH}" if base else None,
        hash_key=f"kyc-id:{settings.signing_secret}",
        http=http,
    )


def smile_of(runtime: Any) -> SmileId:
    """The process's Smile ID client, created on first use (runtime.extras holds it)."""
    smile = runtime.extras.get(_EXTRA_KEY)
    if smile is None:
        smile = build(runtime.settings)
        runtime.extras[_EXTRA_KEY] = smile
    assert isinstance(smile, SmileId)
    return smile


async def close_smile(runtime: Any) -> None:
    smile = runtime.extras.pop(_EXTRA_KEY, None)
    if isinstance(smile, SmileId):
        await smile.aclose()
