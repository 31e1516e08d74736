"""The api role's ASGI application (composition root for HTTP)."""

from __future__ import annotations

from fastapi import FastAPI

from letsbet.accounts.endpoints import router as accounts_router
from letsbet.accounts.privacy_endpoints import router as privacy_router
from letsbet.compliance.aml.endpoints import router as aml_router
from letsbet.compliance.audit.endpoints import router as audit_router
from letsbet.compliance.geo.resolver import resolver_of
from letsbet.compliance.kyc.endpoints import router as kyc_router
from letsbet.compliance.reports.endpoints import router as reports_router
from letsbet.compliance.responsible_gaming.endpoints import router as rg_router
from letsbet.crash.endpoints import fairness_router, games_router
from letsbet.crash.ws import router as crash_ws_router
from letsbet.ledger.endpoints import router as ledger_router
from letsbet.payments.endpoints import callback_router as payment_callbacks_router
from letsbet.payments.endpoints import router as payments_router
from letsbet.platform.config import Environment
from letsbet.platform.health import router as health_router
from letsbet.platform.http.errors import install_error_handlers
from letsbet.platform.http.middleware import HttpEdge
from letsbet.platform.http.ratelimit import RateLimiter
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets.cashout_endpoints import router as cashout_router
from letsbet.sportsbook.bets.endpoints import router as bets_router
from letsbet.sportsbook.bets.liability_endpoints import router as liability_router
from letsbet.sportsbook.bets.ws import router as bets_ws_router
from letsbet.sportsbook.catalogue.endpoints import admin_router as trading_router
from letsbet.sportsbook.catalogue.endpoints import router as catalogue_router
from letsbet.sportsbook.odds.ws import router as odds_ws_router

API_DESCRIPTION = """letsbet: sportsbook, provably fair crash game, mobile-money payments and
compliance for Kenya, Nigeria and Ghana. Errors always look like
`{"error": {"code": "...", "message": "...", "request_id": "..."}}`; amounts are decimal strings."""


def create_app(runtime: Runtime, *, health_only: bool = False) -> FastAPI:
    """The api role's app; health_only=True gives worker roles /healthz, /readyz, /metrics."""
    app = FastAPI(
        title="letsbet",
        version="0.1.0",
        description=API_DESCRIPTION,
    )
    app.state.runtime = runtime
    redis_url = runtime.settings.resolved_redis_url()
    assert redis_url is not None
    app.state.rate_limiter = RateLimiter(redis_url)
    install_error_handlers(app)
    if runtime.settings.geofenced and not health_only:
        resolver_of(runtime)  # open GEOIP_DB_PATH now: a missing database warns at start
    app.include_router(health_router)
    if not health_only:
        app.include_router(accounts_router)
        app.include_router(privacy_router)
        app.include_router(audit_router)
        app.include_router(aml_router)
        app.include_router(reports_router)
        app.include_router(rg_router)
        app.include_router(kyc_router)
        app.include_router(ledger_router)
        app.include_router(catalogue_router)
        app.include_router(trading_router)
        app.include_router(odds_ws_router)
        app.include_router(bets_router)
        app.include_router(cashout_router)
        app.include_router(bets_ws_router)
        app.include_router(liability_router)
        app.include_router(payments_router)
        app.include_router(payment_callbacks_router)
        app.include_router(fairness_router)
        app.include_router(games_router)
        app.include_router(crash_ws_router)
    # Reads go through the runtime each request so SIGHUP changes apply without a restart.
    app.add_middleware(
        HttpEdge,
        max_body_bytes=lambda: runtime.settings.max_body_bytes,
        cors_origins=lambda: runtime.settings.cors_origins,
        hsts=runtime.settings.environment == Environment.PRODUCTION,
    )
    return app
