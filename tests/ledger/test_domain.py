"""Pure ledger rules, property-tested."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.ledger.domain import (
    HOUSE_SHARDS,
    MAX_AMOUNT,
    AccountKind,
    AccountState,
    Entry,
    House,
    HouseAccount,
    InsufficientFunds,
    InvalidTransfer,
    PlayerCash,
    TransferSpec,
    apply,
    hold_post_amount,
    house_shard,
    net_entries,
    validate_entries,
)

PLAYER = PlayerCash(uuid.UUID(int=1))
ADJ = House(HouseAccount.ADJUSTMENTS)


def test_entries_must_balance_and_be_distinct() -> None:
    validate_entries([Entry(PLAYER, 5), Entry(ADJ, -5)])
    for bad in (
        [Entry(PLAYER, 5)],
        [Entry(PLAYER, 5), Entry(ADJ, -4)],
        [Entry(PLAYER, 0), Entry(ADJ, 0)],
        [Entry(PLAYER, 5), Entry(PLAYER, -5)],
        [Entry(PLAYER, MAX_AMOUNT + 1), Entry(ADJ, -MAX_AMOUNT - 1)],
        [Entry(PLAYER, True), Entry(ADJ, -1)],  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidTransfer):
            validate_entries(bad)


def test_spec_checks_key_and_type() -> None:
    ok = TransferSpec("k-1", "bet.stake", "KE", "KES", (Entry(PLAYER, -1), Entry(ADJ, 1)))
    ok.validate()
    for key, kind in (("", "bet.stake"), ("has space", "bet.stake"), ("k", "Bet"), ("k", "x")):
        with pytest.raises(InvalidTransfer):
            TransferSpec(key, kind, "KE", "KES", ok.entries).validate()


def test_request_hash_is_canonical() -> None:
    a = TransferSpec(
        "k", "t.x", "KE", "KES", (Entry(PLAYER, -1), Entry(ADJ, 1)), metadata={"a": 1, "b": 2}
    )
    b = TransferSpec(
        "k2", "t.x", "KE", "KES", (Entry(PLAYER, -1), Entry(ADJ, 1)), metadata={"b": 2, "a": 1}
    )
    c = TransferSpec("k", "t.x", "KE", "KES", (Entry(PLAYER, -2), Entry(ADJ, 2)))
    assert a.request_hash() == b.request_hash()  # the key is not part of the request body
    assert a.request_hash() != c.request_hash()


@given(st.text(min_size=1, max_size=64))
def test_house_shard_is_stable_and_in_range(key: str) -> None:
    assert house_shard(key) == house_shard(key)
    assert 0 <= house_shard(key) < HOUSE_SHARDS


@given(
    balance=st.integers(0, 10**9),
    held=st.integers(0, 10**9),
    delta=st.integers(-(10**9), 10**9),
)
def test_apply_never_lets_a_player_spend_held_or_missing_money(
    balance: int, held: int, delta: int
) -> None:
    held = min(held, balance)
    player = AccountState(1, AccountKind.PLAYER_CASH, balance, held, 0)
    house = AccountState(2, AccountKind.HOUSE, 0, 0, 0)
    accounts = {1: player, 2: house}
    if delta == 0:
        return
    if balance + delta - held < 0:
        with pytest.raises(InsufficientFunds):
            apply(accounts, {1: delta, 2: -delta})
        return
    updated, postings = apply(accounts, {1: delta, 2: -delta})
    assert updated[1].balance == balance + delta and updated[1].held == held
    assert updated[2].balance == -delta  # house accounts may go negative (clearing, revenue)
    assert sum(p.amount for p in postings) == 0
    for p in postings:
        assert p.balance_after == p.balance_before + p.amount
    assert all(s.version == 1 for s in updated.values())


@given(hold=st.integers(1, 10**9), requested=st.one_of(st.none(), st.integers(-5, 2 * 10**9)))
def test_hold_post_amount(hold: int, requested: int | None) -> None:
    if requested is None:
        assert hold_post_amount(hold, None) == hold
    elif 0 < requested <= hold:
        assert hold_post_amount(hold, requested) == requested
    else:
        with pytest.raises(InvalidTransfer):
            hold_post_amount(hold, requested)


def test_release_and_reserve_move_held_only() -> None:
    player = AccountState(1, AccountKind.PLAYER_CASH, 100, 30, 4)
    updated, postings = apply({1: player}, {}, reserve={1: 70})
    assert (updated[1].balance, updated[1].held, postings) == (100, 100, [])
    with pytest.raises(InsufficientFunds):
        apply({1: player}, {}, reserve={1: 71})
    released, _ = apply({1: player}, {}, release={1: 30})
    assert released[1].held == 0
    with pytest.raises(InvalidTransfer):
        apply({1: player}, {}, release={1: 31})


def test_only_an_overdraft_takes_a_player_below_zero() -> None:
    player = AccountState(1, AccountKind.PLAYER_CASH, 100, 30, 0)
    house = AccountState(2, AccountKind.HOUSE, 0, 0, 0)
    accounts = {1: player, 2: house}
    with pytest.raises(InsufficientFunds):
        apply(accounts, {1: -71, 2: 71})
    updated, postings = apply(accounts, {1: -250, 2: 250}, overdraft=True)
    assert (updated[1].balance, updated[1].held) == (-150, 30)
    assert postings[0].balance_after == -150

    # Below zero: no debit and no new hold, but credits, and posting or releasing the hold the
    # player already had (neither lowers what is available).
    owing = {1: updated[1], 2: updated[2]}
    for refused in ({"deltas": {1: -1, 2: 1}}, {"deltas": {}, "reserve": {1: 1}}):
        with pytest.raises(InsufficientFunds):
            apply(owing, **refused)  # type: ignore[arg-type]
    credited, _ = apply(owing, {1: 100, 2: -100})
    assert credited[1].balance - credited[1].held == -80
    posted, _ = apply(owing, {1: -30, 2: 30}, release={1: 30})
    assert (posted[1].balance, posted[1].held) == (-180, 0)
    released, _ = apply(owing, {}, release={1: 30})
    assert released[1].held == 0


def _entries(amounts: list[int]) -> tuple[Entry, ...]:
    """A valid transfer over the three accounts from two free amounts."""
    refs = [PLAYER, ADJ, House(HouseAccount.SPORTSBOOK_REVENUE)]
    values = [*amounts, -sum(amounts)]
    return tuple(Entry(ref, v) for ref, v in zip(refs, values, strict=True) if v)


@given(
    old=st.lists(st.integers(-(10**6), 10**6), min_size=2, max_size=2),
    new=st.lists(st.integers(-(10**6), 10**6), min_size=2, max_size=2),
)
def test_net_entries_turn_one_effect_into_the_other(old: list[int], new: list[int]) -> None:
    before, after = _entries(old), _entries(new)
    net = net_entries(before, after)
    assert sum(e.amount for e in net) == 0 and all(e.amount for e in net)
    effect: dict[object, int] = {}
    for entry in (*before, *net):
        effect[entry.account] = effect.get(entry.account, 0) + entry.amount
    assert {k: v for k, v in effect.items() if v} == {e.account: e.amount for e in after}
    assert net_entries(before, before) == ()
    assert {e.account: -e.amount for e in net_entries(before, ())} == {
        e.account: e.amount for e in before
    }
