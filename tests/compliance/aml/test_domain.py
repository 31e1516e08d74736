"""AML rules on crafted sequences: each fires at its threshold and not just below it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.compliance.aml.domain import (
    History,
    InvalidTransition,
    Kind,
    PaymentFact,
    Rule,
    Severity,
    Shared,
    Status,
    check_transition,
    evaluate,
    releases_freeze,
)
from letsbet.tenants import get_tenant

KE = get_tenant("KE").aml
USER = uuid.uuid4()
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def fact(kind: Kind, amount: int, at: datetime = T0) -> PaymentFact:
    return PaymentFact(uuid.uuid4(), USER, "KE", "KES", kind, amount, at)


def rules(alerts: list) -> list[tuple[Rule, Severity]]:  # type: ignore[type-arg]
    return [(a.rule, a.severity) for a in alerts]


def test_large_deposit_medium_then_high_and_not_just_below() -> None:
    below = fact(Kind.DEPOSIT, KE.large_deposit - 1)
    assert evaluate(below, History(deposits=(below,)), KE) == []
    at = fact(Kind.DEPOSIT, KE.large_deposit)
    [alert] = evaluate(at, History(deposits=(at,)), KE)
    assert (alert.rule, alert.severity) == (Rule.LARGE_DEPOSIT, Severity.MEDIUM)
    assert alert.evidence["amount"] == KE.large_deposit
    assert alert.dedupe_key == str(at.payment_id)
    big = fact(Kind.DEPOSIT, KE.very_large_deposit)
    assert rules(evaluate(big, History(deposits=(big,)), KE)) == [
        (Rule.LARGE_DEPOSIT, Severity.HIGH)
    ]
    almost = fact(Kind.DEPOSIT, KE.very_large_deposit - 1)
    assert rules(evaluate(almost, History(deposits=(almost,)), KE)) == [
        (Rule.LARGE_DEPOSIT, Severity.MEDIUM)
    ]


def test_large_withdrawal() -> None:
    well_wagered = History(wagered=10**12)
    assert evaluate(fact(Kind.WITHDRAWAL, KE.large_withdrawal - 1), well_wagered, KE) == []
    assert rules(evaluate(fact(Kind.WITHDRAWAL, KE.large_withdrawal), well_wagered, KE)) == [
        (Rule.LARGE_WITHDRAWAL, Severity.MEDIUM)
    ]
    assert rules(evaluate(fact(Kind.WITHDRAWAL, KE.very_large_withdrawal), well_wagered, KE)) == [
        (Rule.LARGE_WITHDRAWAL, Severity.HIGH)
    ]


def test_deposit_then_withdrawal_with_little_wagering() -> None:
    deposits = tuple(fact(Kind.DEPOSIT, 20_000_00, T0 - timedelta(days=d)) for d in (1, 2))
    deposited = 40_000_00
    enough = deposited * KE.min_wagered_percent // 100
    out = fact(Kind.WITHDRAWAL, KE.quick_cashout_min)
    [alert] = evaluate(out, History(deposits=deposits, wagered=enough - 1), KE)
    assert (alert.rule, alert.severity) == (Rule.QUICK_CASHOUT, Severity.HIGH)
    assert (alert.evidence["deposited"], alert.evidence["wagered"]) == (deposited, enough - 1)
    # Wagered exactly the required share: nothing; a withdrawal just below the minimum: nothing.
    assert evaluate(out, History(deposits=deposits, wagered=enough), KE) == []
    small = fact(Kind.WITHDRAWAL, KE.quick_cashout_min - 1)
    assert evaluate(small, History(deposits=deposits, wagered=0), KE) == []
    # Deposits older than the turnover window do not count.
    old = (fact(Kind.DEPOSIT, 20_000_00, T0 - KE.turnover_window),)
    assert evaluate(out, History(deposits=old, wagered=0), KE) == []
    assert evaluate(out, History(deposits=(), wagered=0), KE) == []


def test_many_deposits_in_a_short_time() -> None:
    n, window = KE.velocity_deposits, KE.velocity_window
    step = window / n
    burst = tuple(fact(Kind.DEPOSIT, 1_000_00, T0 - step * i) for i in range(n))
    last = burst[0]
    [alert] = evaluate(last, History(deposits=burst), KE)
    assert (alert.rule, alert.severity) == (Rule.DEPOSIT_VELOCITY, Severity.MEDIUM)
    assert alert.evidence["deposits"] == n
    assert evaluate(last, History(deposits=burst[:-1]), KE) == []  # one fewer
    spread = tuple(fact(Kind.DEPOSIT, 1_000_00, T0 - window * i / (n - 1)) for i in range(n))
    assert evaluate(spread[0], History(deposits=spread), KE) == []  # oldest on the window's edge
    # An alert already covering this window: no second one for the same burst.
    covered = History(deposits=burst, recent_alerts=(("deposit_velocity", "x", T0 - step),))
    assert evaluate(last, covered, KE) == []


def test_one_identifier_behind_many_accounts() -> None:
    out = fact(Kind.DEPOSIT, 1_000_00)

    def shared(kind: str, accounts: int) -> History:
        others = tuple(uuid.uuid4() for _ in range(accounts - 1))
        return History(deposits=(out,), shared=(Shared(kind, "v", others),))

    assert evaluate(out, shared("device", KE.shared_accounts - 1), KE) == []
    [alert] = evaluate(out, shared("device", KE.shared_accounts), KE)
    assert (alert.rule, alert.severity) == (Rule.SHARED_IDENTITY, Severity.MEDIUM)
    assert (alert.dedupe_key, alert.evidence["accounts"]) == ("device:v", KE.shared_accounts)
    assert rules(evaluate(out, shared("phone", KE.shared_accounts_high), KE)) == [
        (Rule.SHARED_IDENTITY, Severity.HIGH)
    ]
    # Carrier-grade NAT: an IP alone is a lead, never grounds to freeze.
    assert rules(evaluate(out, shared("ip", KE.shared_accounts_high + 10), KE)) == [
        (Rule.SHARED_IDENTITY, Severity.MEDIUM)
    ]


@pytest.mark.parametrize("country", ["KE", "NG", "GH"])
def test_thresholds_are_per_tenant_and_ordered(country: str) -> None:
    tenant = get_tenant(country)
    aml = tenant.aml
    assert 0 < aml.large_deposit < aml.very_large_deposit
    assert 0 < aml.large_withdrawal < aml.very_large_withdrawal <= tenant.max_withdrawal
    assert aml.large_deposit <= tenant.max_deposit  # reachable in one payment
    assert 2 <= aml.shared_accounts < aml.shared_accounts_high


@given(amount=st.integers(min_value=1, max_value=10**12), wagered=st.integers(0, 10**12))
def test_quick_cashout_fires_exactly_below_the_wagered_share(amount: int, wagered: int) -> None:
    deposit = fact(Kind.DEPOSIT, amount, T0 - timedelta(hours=1))
    out = fact(Kind.WITHDRAWAL, KE.quick_cashout_min)
    fired = any(
        a.rule == Rule.QUICK_CASHOUT
        for a in evaluate(out, History(deposits=(deposit,), wagered=wagered), KE)
    )
    assert fired == (wagered / amount < KE.min_wagered_percent / 100)


def test_transitions() -> None:
    check_transition(Status.OPEN, Status.INVESTIGATING)
    check_transition(Status.INVESTIGATING, Status.CLOSED)
    check_transition(Status.INVESTIGATING, Status.REPORTED)
    for current, target in (
        (Status.OPEN, Status.CLOSED),
        (Status.OPEN, Status.OPEN),
        (Status.INVESTIGATING, Status.OPEN),
        (Status.CLOSED, Status.INVESTIGATING),
        (Status.REPORTED, Status.CLOSED),
    ):
        with pytest.raises(InvalidTransition):
            check_transition(current, target)
    assert releases_freeze(Status.CLOSED) and not releases_freeze(Status.REPORTED)


def test_eligibility_refuses_frozen_withdrawals_only() -> None:
    from letsbet.compliance.eligibility import Action, Inputs, WithdrawalsFrozen, decide, inputs_sql

    assert "aml_alerts" in inputs_sql(Action.WITHDRAWAL)
    assert all("aml_alerts" not in inputs_sql(a) for a in Action if a != Action.WITHDRAWAL)
    frozen = Inputs.of(
        {"account_status": "active", "kyc_verified": True, "withdrawals_frozen": True}
    )
    with pytest.raises(WithdrawalsFrozen) as refused:
        decide(frozen, country="KE", action=Action.WITHDRAWAL, allowed_countries=["KE"])
    assert refused.value.code == "withdrawals_frozen" and refused.value.status_code == 403
    decide(frozen, country="KE", action=Action.DEPOSIT, allowed_countries=["KE"], amount=100)
    decide(
        Inputs("active", kyc_verified=True),
        country="KE",
        action=Action.WITHDRAWAL,
        allowed_countries=["KE"],
    )
