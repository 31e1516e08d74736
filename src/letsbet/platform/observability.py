"""Structured logs (structlog) and Prometheus metrics shared by every role.

Context (request_id, user_id, country) is bound with contextvars so every line of a request
carries it. Secrets and PII are never logged: callers log ids, not phones or passwords, and the
redaction processor below masks known sensitive keys if one slips through.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# `*_created` timestamps double the series count and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_SENSITIVE = {
    "password",
    "token",
    "access_token",
    "refresh_token",
    "secret",
    "authorization",
    "phone",
    "msisdn",
    "pin",
    "id_number",
    "api_key",
}
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _SENSITIVE.intersection(event):
        event[key] = "***"
    return event


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Idempotent; called at start and again on SIGHUP when LOG_LEVEL changes."""
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries using stdlib logging (uvicorn, alembic, nats) go to stderr at WARNING and up.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    for noisy in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


# -- HTTP RED metrics (labelled by route template, never the raw path) -------------------------
HTTP_REQUESTS = Counter(
    "letsbet_http_requests_total",
    "HTTP requests by route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "letsbet_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
HTTP_IN_FLIGHT = Gauge("letsbet_http_requests_in_flight", "HTTP requests being served")
ERRORS = Counter("letsbet_errors_total", "Errors answered, by stable error code", ["code"])
RATE_LIMITED = Counter("letsbet_rate_limited_total", "Requests refused by rate limits", ["scope"])

# -- business and platform metrics ---------------------------------------------------------------
USERS_REGISTERED = Counter("letsbet_users_registered_total", "Players registered", ["country"])
LOGINS = Counter("letsbet_logins_total", "Login attempts by outcome", ["outcome"])
OUTBOX_PUBLISHED = Counter("letsbet_outbox_published_total", "Outbox events published", ["subject"])
OUTBOX_BACKLOG = Gauge("letsbet_outbox_backlog", "Outbox events not yet published")
EVENTS_CONSUMED = Counter(
    "letsbet_events_consumed_total", "Events handled by consumers", ["consumer", "outcome"]
)
ROLE_UP = Gauge("letsbet_role_up", "1 while a process role is running", ["role"])

# -- ledger -------------------------------------------------------------------------------------
LEDGER_TRANSFERS = Counter("letsbet_ledger_transfers_total", "Ledger transfers posted", ["type"])
LEDGER_AMOUNT = Counter(
    "letsbet_ledger_amount_minor_total",
    "Money moved by ledger transfers, in minor units of the currency",
    ["currency", "type"],
)
LEDGER_REJECTIONS = Counter(
    "letsbet_ledger_rejections_total", "Ledger commands refused, by error code", ["code"]
)
LEDGER_CHECK_SOUND = Gauge(
    "letsbet_ledger_check_sound", "1 when the last reconciliation found no break, else 0"
)
LEDGER_CHECK_BREAKS = Gauge("letsbet_ledger_check_breaks", "Breaks found by the last check")
LEDGER_OVERDRAFTS = Counter(
    "letsbet_ledger_overdrafts_total",
    "Clawbacks (result corrections) that left a player's available balance below zero",
    ["currency"],
)
HOLDS_EXPIRED = Counter("letsbet_ledger_holds_expired_total", "Holds released by expiry")

# -- sportsbook ---------------------------------------------------------------------------------
BETS_PLACED = Counter("letsbet_bets_placed_total", "Bets placed", ["bet_type", "currency"])
BETS_REJECTED = Counter("letsbet_bets_rejected_total", "Bets refused, by error code", ["code"])
BETS_STAKED = Counter(
    "letsbet_bets_stake_minor_total", "Stakes taken, in minor units", ["currency"]
)
BETS_SETTLED = Counter("letsbet_bets_settled_total", "Bets settled, by outcome", ["status"])
BETS_PAID = Counter("letsbet_bets_payout_minor_total", "Payouts, in minor units", ["currency"])
# direction: "pay" (the correction pays the player more), "clawback" (takes money back),
# "none" (the status changed but no money moved).
BETS_RESETTLED = Counter(
    "letsbet_bets_resettled_total",
    "Settled bets resettled by a result correction",
    ["currency", "direction"],
)
BETS_RESETTLED_AMOUNT = Counter(
    "letsbet_bets_resettled_minor_total",
    "Money moved to (pay) or from (clawback) players by resettlements, in minor units",
    ["currency", "direction"],
)
BETS_ROLLED_BACK = Counter(
    "letsbet_bets_settlement_rolled_back_total",
    "Settled bets reopened by a rollback of their market's results",
    ["currency"],
)
ODDS_SOCKETS = Gauge("letsbet_odds_websockets", "Open /ws/odds connections in this process")
ODDS_OVERROUND = Gauge(
    "letsbet_odds_overround",
    "Mean overround of the simulated feed's upcoming pre-match books (0.06: a 106% book)",
    ["sport"],
)
ODDS_SLOW_DROPPED = Counter(
    "letsbet_odds_websockets_dropped_total", "Odds sockets cut off for falling behind"
)
ODDS_SNAPSHOT_SECONDS = Histogram(
    "letsbet_odds_snapshot_seconds",
    "Time to read a /ws/odds snapshot, by source (cache or postgres)",
    ["source"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
ODDS_CACHE_WRITES = Counter(
    "letsbet_odds_cache_writes_total",
    "Catalogue changes offered to the Redis odds cache, by what the cache did",
    ["outcome"],  # applied, stale, gap, reset, miss
)
BETS_ACCEPTED = Counter(
    "letsbet_bets_accepted_total", "Live bets accepted after their delay", ["currency"]
)
BET_SOCKETS = Gauge("letsbet_bet_websockets", "Open authenticated /ws/bets connections")
BET_SOCKETS_DROPPED = Counter(
    "letsbet_bet_websockets_dropped_total", "Bet sockets cut off for falling behind"
)
EVENT_LIABILITY = Gauge(
    "letsbet_event_liability_minor",
    "Potential payout of open and pending bets per event, in minor units (live events and "
    "events starting soon, the largest first; see docs/operations.md)",
    ["event_id", "currency"],
)
LIABILITY_TOTAL = Gauge(
    "letsbet_event_liability_sum_minor",
    "Per-event liability summed over every event, in minor units (a multi counts once per "
    "event it covers)",
    ["currency"],
)

# -- payments -----------------------------------------------------------------------------------
PAYMENTS = Counter(
    "letsbet_payments_total",
    "Payment state changes, by provider, direction and the status reached",
    ["provider", "direction", "status"],
)
PAYMENTS_AMOUNT = Counter(
    "letsbet_payments_amount_minor_total",
    "Gross amount of succeeded payments, in minor units",
    ["provider", "direction", "currency"],
)
PAYMENT_CALLBACKS = Counter(
    "letsbet_payment_callbacks_total",
    "Provider callbacks and webhooks, by kind and what we did with them",
    ["provider", "kind", "outcome"],
)
PAYMENT_CALLBACK_TO_CREDIT = Histogram(
    "letsbet_payment_callback_to_credit_seconds",
    "From a verified provider callback arriving to its ledger transfer committed",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
PAYMENT_PROVIDER_CALLS = Histogram(
    "letsbet_payment_provider_call_seconds",
    "Calls to payment providers (with retries), by operation and outcome",
    ["provider", "operation", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PAYMENTS_RECONCILED = Counter(
    "letsbet_payments_reconciled_total",
    "Open payments looked at by the reconciler, by outcome",
    ["provider", "outcome"],
)

# -- crash game ---------------------------------------------------------------------------------
CRASH_ROUNDS = Counter(
    "letsbet_crash_rounds_total", "Crash rounds played to the crash", ["game_id"]
)
CRASH_BETS = Counter("letsbet_crash_bets_total", "Crash bets placed", ["game_id", "currency"])
CRASH_BETS_REJECTED = Counter(
    "letsbet_crash_bets_rejected_total", "Crash bets and cash-outs refused, by code", ["code"]
)
CRASH_STAKES = Counter(
    "letsbet_crash_stake_minor_total", "Crash stakes taken, in minor units", ["game_id", "currency"]
)
CRASH_PAYOUTS = Counter(
    "letsbet_crash_payout_minor_total",
    "Crash payouts (stake x multiplier, before tax), in minor units",
    ["game_id", "currency"],
)
CRASH_CASHOUTS = Counter(
    "letsbet_crash_cashouts_total",
    "Crash cash-outs by kind (manual, auto, cap)",
    ["game_id", "kind"],
)
CRASH_RTP = Gauge(
    "letsbet_crash_rtp_ratio",
    "Realised return to player (payouts / stakes) over the game's last 1,000 rounds",
    ["game_id", "currency"],
)
CRASH_LEADER = Gauge(
    "letsbet_crash_leader", "1 while this process runs the game's rounds", ["game_id"]
)
CRASH_SOCKETS = Gauge(
    "letsbet_crash_websockets", "Open /ws/games connections (players and spectators)"
)
CRASH_SOCKETS_DROPPED = Counter(
    "letsbet_crash_websockets_dropped_total", "Crash sockets cut off for falling behind"
)
CRASH_FANOUT_SECONDS = Histogram(
    "letsbet_crash_tick_fanout_seconds",
    "From the engine publishing a tick to its frame queued for every socket of this process",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)

# -- compliance ---------------------------------------------------------------------------------
# Counted when the row is written; a transaction that rolls back afterwards takes its row (and
# the action) with it, so this can run slightly ahead of the table.
AUDIT_APPENDED = Counter(
    "letsbet_audit_rows_appended_total", "Audit log rows appended, by action", ["action"]
)
ACCOUNTS_CLOSED = Counter(
    "letsbet_accounts_closed_total", "Accounts closed and anonymised, by who asked", ["by"]
)
TAX_REPORTS = Counter("letsbet_tax_reports_total", "Tax reports served, by format", ["format"])
AML_ALERTS = Counter(
    "letsbet_aml_alerts_raised_total",
    "AML alerts raised, by rule and severity",
    ["rule", "severity"],
)
AML_FREEZES = Counter(
    "letsbet_aml_withdrawal_freezes_total",
    "Withdrawal freezes placed (by a high alert) and lifted (by staff)",
    ["change"],
)
