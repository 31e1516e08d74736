"""A property: whatever sequence of results, corrections and rollbacks a market goes through,
and however late the settlement consumer sees them, every bet ends exactly where one
settlement on the final results (or none, if they were withdrawn) would have put it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from letsbet.compliance.tax import payout_breakdown, regime_for
from letsbet.ledger.reconcile import check
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets.domain import LegResult, settle
from letsbet.sportsbook.bets.tables import bets
from tests.sportsbook.bets.helpers import (
    balance,
    bet_body,
    bet_money,
    funded_player,
    post,
    post_result,
    rollback_result,
    settle_from_outbox,
)
from tests.sportsbook.catalogue.helpers import create_event, market, outcome_ids

ODDS = {"home": "2.10", "draw": "3.40", "away": "3.25"}
KEYS = tuple(ODDS)
FUNDS = 10_000_000_00

Results = dict[str, Any]  # outcome key → "won" / "lost" / (result, factors)
results = st.tuples(st.sampled_from(KEYS), st.sampled_from(["plain", "dead_heat", "void"]))
step = st.one_of(results, st.just(None))  # None: roll the settlement back
steps = st.lists(st.tuples(step, st.booleans()), min_size=1, max_size=5)  # (step, consume now?)


def _results(winner: str, kind: str) -> Results:
    if kind == "void":
        return {key: ("lost", {"void_factor": "1"}) for key in KEYS}
    won: Any = ("won", {"dead_heat_factor": "0.5"}) if kind == "dead_heat" else "won"
    return {key: won if key == winner else "lost" for key in KEYS}


def _leg(results: Results, key: str) -> LegResult:
    value = results[key]
    outcome, factors = (value, {}) if isinstance(value, str) else value
    return LegResult.of(
        outcome == "won",
        Decimal(factors.get("void_factor", "0")),
        Decimal(factors.get("dead_heat_factor", "1")),
    )


def _milli(odds: str) -> int:
    return int(Decimal(odds) * 1000)


async def _bet_row(runtime: Runtime, bet_id: str) -> Any:
    async with runtime.db.connect() as conn:
        return (await conn.execute(sa.select(bets).where(bets.c.id == bet_id))).one()


def _expected(row: Any, legs: list[tuple[str, LegResult]]) -> tuple[Any, Any, dict[str, int]]:
    """How one settlement on these results would settle the bet and what it would move."""
    outcome = settle(
        row.stake_per_line,
        [tuple(range(len(legs)))],
        [_milli(odds) for odds, _ in legs],
        [result for _, result in legs],
        max_payout=row.max_payout,
    )
    taxes = payout_breakdown(
        regime_for(row.country_code, datetime.now(UTC)),
        stake=row.total_stake,
        payout=outcome.returned,
    )
    moved = {
        "player": taxes.net_payout - row.total_stake,
        "withholding_tax_payable": taxes.tax,
        "sportsbook_revenue": row.total_stake - outcome.returned,
    }
    return outcome, taxes, {k: v for k, v in moved.items() if v}


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    sequence=steps,
    single_on=st.sampled_from(KEYS),
    multi_on=st.sampled_from(KEYS),
    stake=st.integers(100_00, 50_000_00),
)
async def test_any_sequence_of_corrections_ends_like_one_settlement(
    app: FastAPI,
    runtime: Runtime,
    sequence: list[tuple[tuple[str, str] | None, bool]],
    single_on: str,
    multi_on: str,
    stake: int,
) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        only_1x2 = [market("1x2", ODDS)]
        event = await create_event(client, runtime, markets=only_1x2)
        other = await create_event(client, runtime, markets=only_1x2)
        # Nigeria (Lagos) withholds 5% of net winnings at payout: the taxes move too.
        user, headers = await funded_player(runtime, FUNDS, country="NG")
        amount = f"{stake // 100}.{stake % 100:02d}"
        ids, other_ids = outcome_ids(event, "1x2"), outcome_ids(other, "1x2")
        single = await post(
            client, bet_body([(ids[single_on], ODDS[single_on])], stake=amount), headers
        )
        multi = await post(
            client,
            bet_body(
                [(ids[multi_on], ODDS[multi_on]), (other_ids["home"], ODDS["home"])], stake=amount
            ),
            headers,
        )
        assert single.status_code == multi.status_code == 201, (single.text, multi.text)
        await post_result(client, runtime, other, "1x2", **_results("home", "plain"))
        await settle_from_outbox(runtime, other["id"])

        final: Results | None = None
        for change, consume in sequence:
            if change is None:
                response = await rollback_result(client, runtime, event, "1x2")
                assert response.status_code == (200 if final else 409), response.text
                final = None
            else:
                final = _results(*change)
                await post_result(client, runtime, event, "1x2", **final)
            if consume:
                await settle_from_outbox(runtime, event["id"])
        await settle_from_outbox(runtime, event["id"])

    paid = 0
    for placed, legs in (
        (single.json(), [single_on]),
        (multi.json(), [multi_on, "home"]),
    ):
        row = await _bet_row(runtime, placed["id"])
        money = await bet_money(runtime, placed["id"])
        if final is None:
            assert row.status == "open" and row.payout is None
            assert money == {"player": -stake, "stakes_in_play": stake}
            continue
        resolved = [(ODDS[legs[0]], _leg(final, legs[0]))]
        if len(legs) == 2:
            resolved.append((ODDS["home"], LegResult(won=True)))
        outcome, taxes, moved = _expected(row, resolved)
        assert (row.status, row.return_amount) == (outcome.status, outcome.returned)
        assert (row.winnings_tax, row.payout) == (taxes.tax, taxes.net_payout)
        assert money == moved
        paid += taxes.net_payout
    assert (await balance(runtime, user, "NGN")).balance == FUNDS - 2 * stake + paid
    report = await check(runtime.db)
    assert report.sound, report.lines()
