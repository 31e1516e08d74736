"""Process roles and their lifecycle: start, ready, drain, stop.

`letsbet serve ROLE...` runs the named roles in one process; `letsbet run` runs all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import uvicorn

from letsbet.platform.bus.relay import OutboxRelay
from letsbet.platform.config import Settings
from letsbet.platform.observability import ROLE_UP, get_logger
from letsbet.platform.runtime import Runtime

log = get_logger(__name__)

ROLES = ("api", "relay", "games", "settlement", "payments", "odds")
RoleMain = Callable[[Runtime, asyncio.Event], Coroutine[Any, Any, None]]


class HttpServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the role runner owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _idle_worker(runtime: Runtime, stop: asyncio.Event) -> None:
    await stop.wait()


async def _relay(runtime: Runtime, stop: asyncio.Event) -> None:
    await OutboxRelay(runtime.db, runtime.bus).run(stop)


async def _settlement(runtime: Runtime, stop: asyncio.Event) -> None:
    """Bet settlement (results consumer), live-bet decisions, hold expiry, reconciliation,
    and the live liability gauges."""
    from letsbet.ledger.worker import expiry_loop, reconcile_loop
    from letsbet.platform.bus.consumer import Consumer
    from letsbet.sportsbook.bets import consumers
    from letsbet.sportsbook.bets.liability import liability_loop
    from letsbet.sportsbook.bets.live import live_loop

    # One durable consumer per subject; the handler reads the market's current results, so
    # the two may interleave (see sportsbook.bets.consumers).
    results = [
        Consumer(
            runtime.db,
            runtime.bus,
            name=name,
            subject=subject,
            handler=consumers.on_market_results,
        )
        for name, subject in (
            ("settlement-bets", consumers.RESULTED),
            ("settlement-rollbacks", consumers.ROLLED_BACK),
        )
    ]
    await asyncio.gather(
        expiry_loop(runtime.db, stop),
        reconcile_loop(runtime.db, stop),
        live_loop(runtime.db, stop),
        liability_loop(runtime.db, stop),
        *(consumer.run(stop) for consumer in results),
    )


async def _api_background(runtime: Runtime, stop: asyncio.Event) -> None:
    """What the api role runs beside HTTP: the writer of the Redis odds cache (every replica
    runs one; see sportsbook/odds/cache.py for why that is safe)."""
    from letsbet.sportsbook.odds.cache import odds_cache

    await odds_cache(runtime).run(stop)


async def _payments(runtime: Runtime, stop: asyncio.Event) -> None:
    """Provider reconciliation: settle deposits and withdrawals no callback settled; and AML
    monitoring of the payment events. AML lives here, not in settlement: it reads payment
    events at payment rates, and a slow AML query must never delay settling bets."""
    from letsbet.compliance.aml import consumers as aml
    from letsbet.payments.gateway import gateway_of
    from letsbet.payments.reconcile import reconcile_loop
    from letsbet.platform.bus.consumer import Consumer

    monitor = Consumer(
        runtime.db, runtime.bus, name=aml.NAME, subject=aml.SUBJECT, handler=aml.on_payment
    )
    await asyncio.gather(
        reconcile_loop(runtime.db, gateway_of(runtime), stop),
        monitor.run(stop),
    )


async def _games(runtime: Runtime, stop: asyncio.Event) -> None:
    """Crash rounds: one runner per configured game, leading it while it holds its lock."""
    from letsbet.crash.engine import run_games

    await run_games(runtime, stop)


async def _odds(runtime: Runtime, stop: asyncio.Event) -> None:
    """The simulated odds feed; replicas without the leader lock idle and retry."""
    from letsbet.sportsbook.odds.simulator import Simulator

    settings = runtime.settings
    simulator = Simulator(
        margin=settings.odds_margin,
        method=settings.odds_margin_method,
        speed=settings.odds_sim_speed,
    )
    await simulator.run(runtime.db, stop)


WORKERS: dict[str, RoleMain] = {
    "relay": _relay,
    "games": _games,
    "settlement": _settlement,
    "payments": _payments,
    "odds": _odds,
}


async def serve(
    settings: Settings, roles: tuple[str, ...], on_ready: Callable[[], None] | None = None
) -> int:
    """Run the roles until SIGTERM/SIGINT; SIGHUP reloads config. Returns the exit code."""
    runtime = Runtime.create(settings, role="+".join(roles))
    await runtime.start()
    loop = asyncio.get_running_loop()
    shutdown = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, shutdown.set)
    loop.add_signal_handler(signal.SIGINT, shutdown.set)
    loop.add_signal_handler(signal.SIGHUP, runtime.reload)

    # Every process serves HTTP on PORT: the whole API for the api role, and only
    # /healthz, /readyz and /metrics for worker roles (probes and scraping).
    from letsbet.app import create_app

    server = HttpServer(
        uvicorn.Config(
            create_app(runtime, health_only="api" not in roles),
            host=settings.host,
            port=settings.port,
            loop="none",
            http="httptools",
            ws="websockets-sansio",
            # Frames are small JSON sent to many sockets; per-socket deflate would cost CPU on
            # every send of the crash and odds fan-out for a few bytes saved.
            ws_per_message_deflate=False,
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=max(1, round(settings.shutdown_drain_seconds)),
        )
    )
    tasks: dict[str, asyncio.Task[None]] = {
        "http": asyncio.create_task(server.serve(), name="http")
    }
    for role in roles:
        main = _api_background if role == "api" else WORKERS[role]
        tasks[role] = asyncio.create_task(main(runtime, runtime.stopping), name=f"role-{role}")
    # uvicorn exposes `started` as a flag, not an event: poll it briefly.
    while not server.started and not tasks["http"].done():  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    if not server.started:
        log.error("http.bind_failed", host=settings.host, port=settings.port)
    for role in roles:
        ROLE_UP.labels(role).set(1)
        log.info(
            "role.ready",
            role=role,
            url=f"http://{settings.host}:{settings.port}" if role == "api" else None,
        )
    if on_ready:
        on_ready()

    crashed = asyncio.ensure_future(
        asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
    )
    await asyncio.wait(
        [crashed, asyncio.ensure_future(shutdown.wait())], return_when=asyncio.FIRST_COMPLETED
    )
    exit_code = 0
    if not shutdown.is_set():
        for name, task in tasks.items():
            if task.done():
                log.error(
                    "role.crashed",
                    role=name,
                    error=repr(task.exception()) if not task.cancelled() else "cancelled",
                )
        exit_code = 1
    crashed.cancel()

    # Drain: readiness goes 503 first so load balancers stop sending, then stop accepting,
    # let in-flight requests finish, and let workers finish their current message.
    log.info("shutdown.begin", roles=roles, drain_seconds=settings.shutdown_drain_seconds)
    runtime.draining = True
    if settings.shutdown_readiness_delay_seconds:
        await asyncio.sleep(settings.shutdown_readiness_delay_seconds)
    runtime.stopping.set()
    closed = await runtime.websockets.close_all()
    if closed:
        log.info("shutdown.websockets_closed", count=closed, code=1001)
    server.should_exit = True
    _, pending = await asyncio.wait(tasks.values(), timeout=settings.shutdown_drain_seconds + 5)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    for role in roles:
        ROLE_UP.labels(role).set(0)
    from letsbet.compliance.kyc.provider import close_smile
    from letsbet.payments.gateway import close_gateway

    await close_gateway(runtime)
    await close_smile(runtime)
    await runtime.close()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.remove_signal_handler(sig)
    log.info("shutdown.complete", exit_code=exit_code)
    return exit_code
