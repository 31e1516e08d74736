"""Eligibility, pure: the rules on their inputs, whichever query read them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from letsbet.compliance.eligibility import (
    Action,
    DepositCapBeforeKyc,
    DepositLimitReached,
    Inputs,
    KycRequired,
    LossLimitReached,
    NotEligible,
    SelfExcluded,
    TimedOut,
    Underage,
    check_amount,
    decide,
    inputs_sql,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ADULT = Inputs("active", kyc_verified=True, date_of_birth=date(1990, 1, 1))


@pytest.mark.parametrize("action", list(Action))
def test_only_active_accounts_in_allowed_countries_may_act(action: Action) -> None:
    decide(ADULT, country="KE", action=action, allowed_countries=["KE"])
    for status in ("suspended", "closed", None):
        with pytest.raises(NotEligible) as refused:
            decide(Inputs(status), country="KE", action=action, allowed_countries=["KE"])
        assert refused.value.details["reason"] == "account_inactive"
    with pytest.raises(NotEligible) as refused:
        decide(ADULT, country="GH", action=action, allowed_countries=["KE"])
    assert refused.value.details["reason"] == "country_not_allowed"


def test_inputs_come_from_a_row_with_the_fragments_columns() -> None:
    assert Inputs.of({"account_status": "active", "other": 1}) == Inputs("active")
    row = {"account_status": "active", "limit_day": 500, "used_day": 200, "used_week": None}
    inputs = Inputs.of(row)
    assert (inputs.limits, inputs.used, inputs.has_limit) == ((500, None, None), (200, 0, 0), True)


def test_fragments_read_only_what_the_action_needs() -> None:
    assert "payments" not in inputs_sql(Action.WITHDRAWAL)
    assert "'loss'" in inputs_sql(Action.SPORTS_BET) and "crash_bets" in inputs_sql(
        Action.CRASH_BET
    )
    assert "deposited_before_kyc" in inputs_sql(Action.DEPOSIT)


def _decide(inputs: Inputs, action: Action, amount: int | None = 100) -> None:
    decide(inputs, country="KE", action=action, allowed_countries=["KE"], amount=amount, now=NOW)


def test_exclusions_and_timeouts_stop_bets_and_deposits_but_not_withdrawals() -> None:
    for inputs, error in (
        (Inputs("active", True, excluded_permanently=True), SelfExcluded),
        (Inputs("active", True, excluded_until=NOW + timedelta(days=30)), SelfExcluded),
        (Inputs("active", True, timeout_until=NOW + timedelta(hours=1)), TimedOut),
    ):
        for action in (Action.SPORTS_BET, Action.CRASH_BET, Action.DEPOSIT):
            with pytest.raises(error):
                _decide(inputs, action)
        _decide(inputs, Action.WITHDRAWAL)
    over = Inputs("active", True, excluded_until=NOW, timeout_until=NOW - timedelta(seconds=1))
    _decide(over, Action.SPORTS_BET)  # both ended


def test_withdrawals_need_kyc_and_adults_only() -> None:
    with pytest.raises(KycRequired):
        _decide(Inputs("active"), Action.WITHDRAWAL)
    minor = Inputs("active", True, date_of_birth=NOW.date() - timedelta(days=17 * 365))
    for action in Action:
        with pytest.raises(Underage):
            _decide(minor, action)


def test_amount_rules() -> None:
    unverified = Inputs("active", deposited_before_kyc=4_900_00)
    check_amount(unverified, country="KE", action=Action.DEPOSIT, amount=100_00)
    with pytest.raises(DepositCapBeforeKyc):
        check_amount(unverified, country="KE", action=Action.DEPOSIT, amount=100_01)
    limited = Inputs("active", True, limits=(None, 1_000, None), used=(0, 900, 0))
    check_amount(limited, country="KE", action=Action.DEPOSIT, amount=100)
    with pytest.raises(DepositLimitReached):
        check_amount(limited, country="KE", action=Action.DEPOSIT, amount=101)
    with pytest.raises(LossLimitReached) as refused:
        check_amount(limited, country="KE", action=Action.CRASH_BET, amount=101)
    assert refused.value.details == {"period": "week", "limit": "10.00", "used": "9.00"}
    _decide(limited, Action.SPORTS_BET, amount=None)  # the stake is measured later
