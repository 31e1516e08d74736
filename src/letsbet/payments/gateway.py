"""The payment providers as this process sees them: clients, credentials and callback URLs.

One Gateway per process (one pooled httpx client for both providers), built from settings. In
simulator mode unset credentials fall back to the simulators' public ones, and the B2C
certificate is fetched from the simulator, so `letsbet run` needs no configuration at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from letsbet.payments import simulators as sim
from letsbet.payments.flutterwave.client import FlutterwaveClient
from letsbet.payments.http import ProviderUnavailable
from letsbet.payments.mpesa.client import DarajaClient
from letsbet.platform.config import ProviderMode, Settings

_EXTRA_KEY = "payments.gateway"


@dataclass(frozen=True, slots=True)
class MpesaCredentials:
    shortcode: str
    passkey: str
    initiator_name: str
    initiator_password: str


class Gateway:
    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        timeout = settings.payments_http_timeout_seconds
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(3.0, timeout)), transport=transport
        )
        simulated = settings.mpesa_environment == ProviderMode.SIMULATOR
        self.mpesa_simulated = simulated
        self.mpesa = DarajaClient(
            self.http,
            base_url=settings.mpesa_url(),
            consumer_key=settings.mpesa_consumer_key or (sim.SIM_CONSUMER_KEY if simulated else ""),
            consumer_secret=settings.mpesa_consumer_secret
            or (sim.SIM_CONSUMER_SECRET if simulated else ""),
        )
        self.mpesa_credentials = MpesaCredentials(
            shortcode=settings.mpesa_shortcode,
            passkey=settings.mpesa_passkey or (sim.SIM_PASSKEY if simulated else ""),
            initiator_name=settings.mpesa_initiator_name
            or (sim.SIM_INITIATOR_NAME if simulated else ""),
            initiator_password=settings.mpesa_initiator_password
            or (sim.SIM_INITIATOR_PASSWORD if simulated else ""),
        )
        flw_simulated = settings.flutterwave_environment == ProviderMode.SIMULATOR
        self.flutterwave = FlutterwaveClient(
            self.http,
            base_url=settings.flutterwave_url(),
            secret_key=settings.flutterwave_secret_key
            or (sim.SIM_FLW_SECRET_KEY if flw_simulated else ""),
        )
        self.flutterwave_secret_hash = settings.flutterwave_secret_hash or (
            sim.SIM_FLW_SECRET_HASH if flw_simulated else ""
        )
        self._certificate: bytes | None = None
        self._certificate_lock = asyncio.Lock()

    # -- callback URLs -----------------------------------------------------------------------
    def _local(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::") else self.settings.host
        return f"http://{host}:{self.settings.port}"

    def mpesa_base(self) -> str:
        return (self.settings.mpesa_callback_base_url or self._local()).rstrip("/")

    def flutterwave_base(self) -> str:
        return (self.settings.flutterwave_callback_base_url or self._local()).rstrip("/")

    def stk_callback_url(self, payment_id: Any, token: str) -> str:
        return f"{self.mpesa_base()}/api/payments/mpesa/stk/{payment_id}/{token}"

    def b2c_urls(self, payment_id: Any, token: str) -> tuple[str, str]:
        base = f"{self.mpesa_base()}/api/payments/mpesa/b2c/{payment_id}/{token}"
        return f"{base}/result", f"{base}/timeout"

    def flutterwave_webhook_url(self) -> str:
        return f"{self.flutterwave_base()}/api/payments/flutterwave/webhook"

    def flutterwave_return_url(self) -> str:
        return f"{self.flutterwave_base()}/api/payments/flutterwave/return"

    # -- B2C certificate ---------------------------------------------------------------------
    async def mpesa_certificate(self) -> bytes:
        if self._certificate is not None:
            return self._certificate
        async with self._certificate_lock:
            if self._certificate is None:
                path = self.settings.mpesa_certificate_path
                if path is not None:
                    self._certificate = await asyncio.to_thread(path.read_bytes)
                elif self.mpesa_simulated:
                    try:
                        response = await self.http.get(
                            f"{self.settings.mpesa_url()}/simulator/certificate"
                        )
                        response.raise_for_status()
                    except httpx.HTTPError as exc:
                        raise ProviderUnavailable("mpesa", "simulator certificate") from exc
                    self._certificate = response.content
                else:
                    raise ProviderUnavailable("mpesa", "MPESA_CERTIFICATE_PATH is not set")
        return self._certificate

    async def aclose(self) -> None:
        await self.http.aclose()


def gateway_of(runtime: Any) -> Gateway:
    """The process's gateway, created on first use (runtime.extras holds it)."""
    gateway = runtime.extras.get(_EXTRA_KEY)
    if gateway is None:
        gateway = Gateway(runtime.settings)
        runtime.extras[_EXTRA_KEY] = gateway
    assert isinstance(gateway, Gateway)
    return gateway


async def close_gateway(runtime: Any) -> None:
    gateway = runtime.extras.pop(_EXTRA_KEY, None)
    if isinstance(gateway, Gateway):
        await gateway.aclose()
