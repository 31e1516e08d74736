"""Responsible-gaming rules, pure: nothing a player asks for loosens a control early."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.compliance.responsible_gaming.domain import (
    COOLING,
    NO_LIMIT,
    Exclusion,
    ExclusionCannotBeShortened,
    InvalidControl,
    Limit,
    TimeoutCannotBeShortened,
    add_months,
    change_limit,
    over_limit,
    self_exclude,
    take_timeout,
)

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def test_add_months_keeps_the_wall_time_and_clamps_the_day() -> None:
    assert add_months(NOW, 1) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    assert add_months(NOW, 12) == datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    assert add_months(datetime(2027, 12, 15, tzinfo=UTC), 3) == datetime(2028, 3, 15, tzinfo=UTC)


@pytest.mark.parametrize("months", [0, 13, -1])
def test_exclusion_is_one_to_twelve_months(months: int) -> None:
    with pytest.raises(InvalidControl):
        self_exclude(None, months=months, now=NOW)


def test_an_exclusion_can_be_extended_or_made_permanent_but_not_shortened() -> None:
    six = self_exclude(None, months=6, now=NOW)
    assert six.until == add_months(NOW, 6) and not six.permanent
    later = NOW + timedelta(days=10)
    with pytest.raises(ExclusionCannotBeShortened):
        self_exclude(six, months=1, now=later)
    assert self_exclude(six, months=12, now=later).until == add_months(later, 12)
    forever = self_exclude(six, months=None, now=later)
    assert forever.permanent and forever.active(later + timedelta(days=10_000))
    with pytest.raises(ExclusionCannotBeShortened):
        self_exclude(forever, months=12, now=later)


def test_an_expired_exclusion_does_not_bind_a_new_one() -> None:
    old = Exclusion(until=NOW - timedelta(seconds=1), permanent=False)
    assert self_exclude(old, months=1, now=NOW).until == add_months(NOW, 1)


def test_timeouts_last_24_hours_to_six_weeks_and_never_shorten() -> None:
    for hours in (23, 1009):
        with pytest.raises(InvalidControl):
            take_timeout(None, hours=hours, now=NOW)
    until = take_timeout(None, hours=72, now=NOW)
    assert until == NOW + timedelta(hours=72)
    with pytest.raises(TimeoutCannotBeShortened):
        take_timeout(until, hours=24, now=NOW + timedelta(hours=1))
    assert take_timeout(until, hours=1008, now=NOW) == NOW + timedelta(weeks=6)


def test_a_first_limit_and_a_decrease_apply_at_once() -> None:
    first = change_limit(NO_LIMIT, 1_000_00, NOW)
    assert first == Limit(1_000_00) and first.effective(NOW) == 1_000_00
    lower = change_limit(first, 500_00, NOW)
    assert lower.effective(NOW) == 500_00


def test_an_increase_or_removal_waits_24_hours() -> None:
    limit = Limit(500_00)
    raised = change_limit(limit, 2_000_00, NOW)
    assert raised.effective(NOW) == 500_00
    assert raised.effective(NOW + COOLING - timedelta(seconds=1)) == 500_00
    assert raised.effective(NOW + COOLING) == 2_000_00
    removed = change_limit(limit, None, NOW)
    assert removed.effective(NOW + timedelta(hours=23)) == 500_00
    assert removed.effective(NOW + COOLING) is None


def test_a_decrease_cancels_a_pending_raise_and_a_new_raise_restarts_the_clock() -> None:
    raised = change_limit(Limit(500_00), 2_000_00, NOW)
    assert change_limit(raised, 300_00, NOW + timedelta(hours=1)) == Limit(300_00)
    again = change_limit(raised, 3_000_00, NOW + timedelta(hours=20))
    assert again.effective(NOW + COOLING) == 500_00  # not the first raise's moment
    assert again.effective(NOW + timedelta(hours=44)) == 3_000_00


def test_limits_are_positive() -> None:
    with pytest.raises(InvalidControl):
        change_limit(NO_LIMIT, 0, NOW)


amounts = st.one_of(st.none(), st.integers(min_value=1, max_value=10**9))


@given(
    current=st.integers(min_value=1, max_value=10**9),
    requested=amounts,
    minutes=st.integers(min_value=0, max_value=24 * 60 - 1),
)
def test_no_request_raises_the_limit_within_24_hours(
    current: int, requested: int | None, minutes: int
) -> None:
    changed = change_limit(Limit(current), requested, NOW)
    effective = changed.effective(NOW + timedelta(minutes=minutes))
    assert effective is not None and effective <= current
    if requested is not None and requested <= current:
        assert effective == requested


def test_over_limit_counts_what_is_already_used() -> None:
    assert not over_limit(900, 100, 1000)
    assert over_limit(901, 100, 1000)
    assert not over_limit(10**12, 1, None)
