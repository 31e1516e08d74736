"""The slip rules, pure: on a hand-made read (no database), in their fixed order."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.compliance.eligibility import Inputs, NotEligible
from letsbet.errors import LetsbetError
from letsbet.sportsbook.bets.domain import BetType, OddsChangePolicy
from letsbet.sportsbook.bets.repository import Slip, SlipLeg
from letsbet.sportsbook.bets.slip import (
    BetRequest,
    LiabilityCapReached,
    OutcomeNotFound,
    Selection,
    check_exposure,
    check_slip,
)
from letsbet.tenants import get_tenant

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _leg(outcome_id: int, event_id: int, **overrides: object) -> SlipLeg:
    leg = SlipLeg(
        outcome_id=outcome_id,
        odds_milli=2100,
        active=True,
        market_id=event_id * 10,
        market_status="open",
        event_id=event_id,
        event_status="scheduled",
        starts_at=NOW + timedelta(hours=2),
        countries=["KE", "NG", "GH"],
        max_stake=None,
        max_payout=None,
        liability_cap=None,
        live_delay_seconds=5,
        exposure=None,
    )
    return replace(leg, **overrides)  # type: ignore[arg-type]


def _slip(*legs: SlipLeg, status: str | None = "active") -> Slip:
    return Slip(
        eligibility=Inputs(account_status=status),
        hit=None,
        accounts=[],
        legs={leg.outcome_id: leg for leg in legs},
    )


def _request(*outcomes: int, stake: int = 100_00) -> BetRequest:
    return BetRequest(
        user_id=uuid.uuid4(),
        tenant=get_tenant("KE"),
        bet_type=BetType.SINGLE if len(outcomes) == 1 else BetType.MULTI,
        selections=tuple(Selection(o, 2100) for o in outcomes),
        stake_per_line=stake,
        system=None,
        odds_change=OddsChangePolicy.NONE,
        idempotency_key="k",
    )


def _code(slip: Slip, request: BetRequest) -> str:
    with pytest.raises(LetsbetError) as refused:
        check_slip(slip, request, allowed_countries=["KE"], now=NOW)
    return refused.value.code


def test_a_good_multi_is_priced_at_the_servers_odds() -> None:
    checked = check_slip(
        _slip(_leg(1, 10), _leg(2, 20)),
        _request(1, 2),
        allowed_countries=["KE"],
        now=NOW,
    )
    assert (checked.stake, checked.potential, checked.live) == (100_00, 441_00, False)
    assert checked.event_ids == [10, 20] and checked.lines == [(0, 1)]


def test_eligibility_comes_before_every_other_rule() -> None:
    assert _code(_slip(status="suspended"), _request(99)) == NotEligible.code
    assert _code(_slip(status=None), _request(99)) == NotEligible.code  # no such account
    assert _code(_slip(), _request(99)) == OutcomeNotFound.code


def test_refusals_in_their_order() -> None:
    started = _leg(1, 10, starts_at=NOW - timedelta(minutes=1), odds_milli=3000)
    assert _code(_slip(started), _request(1)) == "event_started"  # before odds_changed
    moved = _leg(1, 10, odds_milli=3000, max_stake=50_00)
    assert _code(_slip(moved), _request(1)) == "odds_changed"  # before stake_above_maximum
    assert _code(_slip(_leg(1, 10), _leg(2, 10)), _request(1, 2)) == "same_event_legs"


@given(
    exposure=st.none() | st.integers(0, 10**9),
    cap=st.none() | st.integers(1, 10**9),
    stake=st.integers(100, 10**6),
)
def test_the_early_cap_check_refuses_exactly_past_the_cap(
    exposure: int | None, cap: int | None, stake: int
) -> None:
    leg = _leg(1, 10, exposure=exposure, liability_cap=cap, max_payout=None)
    checked = check_slip(_slip(leg), _request(1, stake=stake), allowed_countries=["KE"], now=NOW)
    passes = cap is None or (exposure or 0) + checked.potential <= cap
    if passes:
        check_exposure(checked)
    else:
        with pytest.raises(LiabilityCapReached):
            check_exposure(checked)
