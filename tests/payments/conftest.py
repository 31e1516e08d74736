"""Payments run end to end over real HTTP: the api on uvicorn, the simulators beside it.

The simulators call back to the api's real port, as Daraja and Flutterwave would; the api's
clients call the simulators. PostgreSQL, Redis and NATS are the session's embedded servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from letsbet.app import create_app
from letsbet.payments.gateway import close_gateway, gateway_of
from letsbet.payments.simulators import flutterwave as flw_sim
from letsbet.payments.simulators import mpesa as mpesa_sim
from letsbet.payments.simulators.common import Running
from letsbet.payments.simulators.run import start_flutterwave, start_mpesa
from letsbet.platform.config import Settings
from letsbet.platform.runtime import Runtime
from tests.support import free_port


@dataclass
class Stack:
    runtime: Runtime
    api: Running
    mpesa: Running
    flutterwave: Running
    http: httpx.AsyncClient

    @property
    def mpesa_state(self) -> mpesa_sim.State:
        state: mpesa_sim.State = self.mpesa.app.state.simulator
        return state

    @property
    def flw_state(self) -> flw_sim.State:
        state: flw_sim.State = self.flutterwave.app.state.simulator
        return state

    def reset_switches(self) -> None:
        self.mpesa_state.switches = mpesa_sim.Switches(callback_delay=0.05)
        self.flw_state.switches = flw_sim.Switches(callback_delay=0.05, stall_seconds=3.0)

    @property
    def gateway(self) -> Any:
        return gateway_of(self.runtime)


@pytest.fixture(scope="session")
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    port = free_port()
    mpesa = await start_mpesa()
    flutterwave = await start_flutterwave(
        f"http://127.0.0.1:{port}/api/payments/flutterwave/webhook"
    )
    payments_settings = settings.model_copy(
        update={
            "host": "127.0.0.1",
            "port": port,
            "mpesa_base_url": mpesa.url,
            "flutterwave_base_url": flutterwave.url,
            "payments_http_timeout_seconds": 1.5,
            "payments_reconcile_after_seconds": 0.0,
            "payments_reconcile_every_seconds": 0.01,
            "payments_give_up_after_seconds": 3600.0,
        }
    )
    runtime = Runtime.create(payments_settings, role="payments-test")
    await runtime.start()
    api = await Running(create_app(runtime), "127.0.0.1", port).start()
    http = httpx.AsyncClient(base_url=api.url, timeout=10)
    built = Stack(runtime, api, mpesa, flutterwave, http)
    built.reset_switches()
    try:
        yield built
    finally:
        await http.aclose()
        await api.stop()
        await mpesa.stop()
        await flutterwave.stop()
        await close_gateway(runtime)
        await runtime.close()


@pytest.fixture
async def payments(stack: Stack) -> Stack:
    """The stack with default simulator switches (tests may change them)."""
    stack.reset_switches()
    return stack
