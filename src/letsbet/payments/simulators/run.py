"""Start the provider simulators (payments and Smile ID KYC) in the current event loop and
point settings at them (`letsbet run`, `letsbet simulate`, tests)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from letsbet.payments.simulators import flutterwave, mpesa
from letsbet.payments.simulators.common import Running
from letsbet.platform.config import ProviderMode, Settings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Simulators:
    mpesa: Running | None
    flutterwave: Running | None
    smileid: Running | None = None  # KYC (compliance.kyc.simulator), started the same way

    def point(self, settings: Settings) -> Settings:
        """Settings whose provider base URLs are these simulators."""
        update: dict[str, str] = {}
        if self.mpesa is not None:
            update["mpesa_base_url"] = self.mpesa.url
        if self.flutterwave is not None:
            update["flutterwave_base_url"] = self.flutterwave.url
        if self.smileid is not None:
            update["smile_id_base_url"] = self.smileid.url
        return settings.model_copy(update=update)

    async def stop(self) -> None:
        await asyncio.gather(
            *(s.stop() for s in (self.mpesa, self.flutterwave, self.smileid) if s is not None),
            return_exceptions=True,
        )


async def start_mpesa(host: str = "127.0.0.1", port: int | None = None) -> Running:
    return await Running(mpesa.create_app(), host, port or free_port(host)).start()


async def start_flutterwave(
    webhook_url: str, host: str = "127.0.0.1", port: int | None = None
) -> Running:
    port = port or free_port(host)
    state = flutterwave.State(webhook_url=webhook_url, public_url=f"http://{host}:{port}")
    return await Running(flutterwave.create_app(state), host, port).start()


async def start_smileid(host: str = "127.0.0.1", port: int | None = None) -> Running:
    from letsbet.compliance.kyc import simulator as smileid

    return await Running(smileid.create_app(), host, port or free_port(host)).start()


async def start_for(settings: Settings) -> Simulators:
    """The simulators a development run needs: one per provider in simulator mode whose base
    URL is not configured, on free ports, calling back to this process's PORT."""
    platform = f"http://127.0.0.1:{settings.port}"
    wants_mpesa = settings.mpesa_environment == ProviderMode.SIMULATOR
    wants_flw = settings.flutterwave_environment == ProviderMode.SIMULATOR
    return Simulators(
        mpesa=await start_mpesa() if wants_mpesa and not settings.mpesa_base_url else None,
        flutterwave=await start_flutterwave(f"{platform}/api/payments/flutterwave/webhook")
        if wants_flw and not settings.flutterwave_base_url
        else None,
        smileid=await start_smileid()
        if settings.smile_id_env == ProviderMode.SIMULATOR and not settings.smile_id_base_url
        else None,
    )
