"""Pure bet math: placement checks, settlement factors, returns, rounding, cash-out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from letsbet.errors import Unprocessable
from letsbet.sportsbook.bets.domain import (
    MAX_LEGS,
    MAX_ODDS_MILLI,
    MIN_ODDS_MILLI,
    BetType,
    InvalidSystem,
    LegResult,
    NotEnoughLegs,
    OddsChangePolicy,
    SameEventLegs,
    TooManyLegs,
    accept_price,
    bet_return,
    cash_out_quote,
    combined_odds_milli,
    expand_lines,
    leg_factor,
    line_factor,
    line_return,
    line_returns,
    lines_for,
    potential_return,
    settle,
    total_stake,
    validate_legs,
)

WON = LegResult(won=True)
LOST = LegResult(won=False)
VOID = LegResult(won=False, void_factor=Fraction(1))
HALF_WON = LegResult(won=True, void_factor=Fraction(1, 2))
HALF_LOST = LegResult(won=False, void_factor=Fraction(1, 2))
HALF = Fraction(1, 2)
THIRD = Fraction(1, 3)


# -- placement checks -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("events", "bet_type", "error"),
    [
        ([], BetType.SINGLE, NotEnoughLegs),
        ([1, 2], BetType.SINGLE, TooManyLegs),
        ([1], BetType.MULTI, NotEnoughLegs),
        ([1], BetType.SYSTEM, NotEnoughLegs),
        (list(range(MAX_LEGS + 1)), BetType.MULTI, TooManyLegs),
        (list(range(MAX_LEGS + 1)), BetType.SYSTEM, TooManyLegs),
        ([1, 2, 1], BetType.MULTI, SameEventLegs),
        ([7, 8, 9, 8], BetType.SYSTEM, SameEventLegs),
    ],
)
def test_validate_legs_rejects(
    events: list[int], bet_type: BetType, error: type[Unprocessable]
) -> None:
    with pytest.raises(error) as raised:
        validate_legs(events, bet_type)
    assert raised.value.status_code == 422


def test_validate_legs_accepts_and_honours_max_legs() -> None:
    validate_legs([5], BetType.SINGLE)
    validate_legs(list(range(MAX_LEGS)), BetType.MULTI)
    validate_legs([1, 2], BetType.SYSTEM)
    with pytest.raises(TooManyLegs) as raised:
        validate_legs([1, 2, 3, 4], BetType.MULTI, max_legs=3)
    assert raised.value.details == {"legs": 4, "max_legs": 3}


def test_same_event_names_the_event() -> None:
    with pytest.raises(SameEventLegs) as raised:
        validate_legs([10, 11, 11], BetType.MULTI)
    assert raised.value.details == {"event_id": 11}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TooManyLegs, "too_many_legs"),
        (NotEnoughLegs, "not_enough_legs"),
        (SameEventLegs, "same_event_legs"),
        (InvalidSystem, "invalid_system"),
    ],
)
def test_error_codes_are_stable(error: type[Unprocessable], code: str) -> None:
    assert issubclass(error, Unprocessable)
    assert (error.status_code, error.code) == (422, code)


def test_lines_for_each_bet_type() -> None:
    assert lines_for(BetType.SINGLE, 1, None) == [(0,)]
    assert lines_for(BetType.MULTI, 4, None) == [(0, 1, 2, 3)]
    assert lines_for(BetType.SYSTEM, 3, "2/3") == [(0, 1), (0, 2), (1, 2)]
    assert len(lines_for(BetType.SYSTEM, 4, "lucky15")) == 15


@pytest.mark.parametrize(
    ("bet_type", "legs", "system", "error"),
    [
        (BetType.SINGLE, 0, None, NotEnoughLegs),
        (BetType.SINGLE, 2, None, TooManyLegs),
        (BetType.MULTI, 1, None, NotEnoughLegs),
        (BetType.SYSTEM, 1, "1/1", NotEnoughLegs),
        (BetType.SYSTEM, 3, None, InvalidSystem),
        (BetType.SYSTEM, 3, "yankee", InvalidSystem),
        (BetType.MULTI, 3, "2/3", InvalidSystem),
        (BetType.SINGLE, 1, "1/1", InvalidSystem),
    ],
)
def test_lines_for_rejects(
    bet_type: BetType, legs: int, system: str | None, error: type[Unprocessable]
) -> None:
    with pytest.raises(error):
        lines_for(bet_type, legs, system)


@pytest.mark.parametrize(
    ("policy", "seen", "current", "accepted"),
    [
        (OddsChangePolicy.NONE, 2000, 2000, True),
        (OddsChangePolicy.NONE, 2000, 2100, False),
        (OddsChangePolicy.NONE, 2000, 1900, False),
        (OddsChangePolicy.HIGHER, 2000, 2000, True),
        (OddsChangePolicy.HIGHER, 2000, 2100, True),
        (OddsChangePolicy.HIGHER, 2000, 1999, False),
        (OddsChangePolicy.ANY, 2000, 2000, True),
        (OddsChangePolicy.ANY, 2000, 2100, True),
        (OddsChangePolicy.ANY, 2000, 1001, True),
    ],
)
def test_accept_price(policy: OddsChangePolicy, seen: int, current: int, accepted: bool) -> None:
    assert accept_price(seen, current, policy) is accepted


def test_policies_parse_from_the_wire() -> None:
    assert OddsChangePolicy("higher") is OddsChangePolicy.HIGHER
    assert BetType("system") is BetType.SYSTEM


def test_total_stake() -> None:
    assert total_stake(100, 11) == 1100
    with pytest.raises(ValueError):
        total_stake(100, 0)
    with pytest.raises(ValueError):
        total_stake(-1, 1)
    with pytest.raises(TypeError):
        total_stake(1.5, 1)  # type: ignore[arg-type]


# -- leg results and factors ------------------------------------------------------------------
def test_leg_result_converts_decimals_exactly_and_refuses_floats() -> None:
    result = LegResult(True, Decimal("0.5"), Decimal("0.25"))  # type: ignore[arg-type]
    assert result.void_factor == HALF and type(result.void_factor) is Fraction
    assert result.dead_heat_factor == Fraction(1, 4)
    assert result == LegResult(True, HALF, Fraction(1, 4))
    assert LegResult.of(True, None, None) == WON
    assert LegResult.of(False, Decimal("1.0000"), Decimal("0.5000")) == LegResult(
        False, Fraction(1), HALF
    )
    with pytest.raises(TypeError):
        LegResult(True, 0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        LegResult.of(True, Decimal("NaN"))


@pytest.mark.parametrize(
    ("void", "dead_heat"),
    [(Fraction(-1, 10), Fraction(1)), (Fraction(11, 10), Fraction(1)), (0, 0), (0, Fraction(3, 2))],
)
def test_leg_result_factor_ranges(void: Fraction, dead_heat: Fraction) -> None:
    with pytest.raises(ValueError):
        LegResult(True, void, dead_heat)


@pytest.mark.parametrize(
    ("odds", "result", "factor"),
    [
        (2500, WON, Fraction(5, 2)),
        (2500, LOST, Fraction(0)),
        (2500, VOID, Fraction(1)),
        (2500, LegResult(won=True, void_factor=Fraction(1)), Fraction(1)),  # void beats won
        (1900, HALF_WON, Fraction(1, 2) + Fraction(1, 2) * Fraction(19, 10)),  # 1.45
        (1900, HALF_LOST, Fraction(1, 2)),
        (3000, LegResult(won=True, dead_heat_factor=HALF), Fraction(3, 2)),
        (4000, LegResult(won=True, dead_heat_factor=THIRD), Fraction(4, 3)),
        (4000, LegResult(won=False, dead_heat_factor=THIRD), Fraction(0)),
        (1001, WON, Fraction(1001, 1000)),
    ],
)
def test_leg_factor(odds: int, result: LegResult, factor: Fraction) -> None:
    assert leg_factor(odds, result) == factor


@pytest.mark.parametrize("odds", [MIN_ODDS_MILLI - 1, MAX_ODDS_MILLI + 1, 0, -2000])
def test_odds_out_of_range_are_a_bug(odds: int) -> None:
    with pytest.raises(ValueError):
        leg_factor(odds, WON)
    with pytest.raises(ValueError):
        potential_return(100, [(0,)], [odds])


# -- worked settlement examples ---------------------------------------------------------------
def test_single_won_lost_void() -> None:
    assert line_return(1000, [2500], [WON]) == 2500
    assert line_return(1000, [2500], [LOST]) == 0
    assert line_return(1000, [2500], [VOID]) == 1000


def test_asian_half_results() -> None:
    assert line_return(1000, [1900], [HALF_WON]) == 1450  # half refunded, half won at 1.90
    assert line_return(1000, [1900], [HALF_LOST]) == 500  # half refunded, half lost


def test_dead_heats_divide_the_winnings() -> None:
    assert line_return(1000, [3000], [LegResult(won=True, dead_heat_factor=HALF)]) == 1500
    # 1000 * 4.0 / 3 = 1333.33... rounded down
    assert line_return(1000, [4000], [LegResult(won=True, dead_heat_factor=THIRD)]) == 1333
    # A feed's rounded 0.333 is used as given: 1000 * 4 * 0.333 = 1332.
    dead_heat = LegResult.of(True, dead_heat_factor=Decimal("0.333"))
    assert line_return(1000, [4000], [dead_heat]) == 1332


def test_multi_void_leg_counts_as_one_and_lost_leg_kills_the_line() -> None:
    multi = lines_for(BetType.MULTI, 3, None)
    odds = [2000, 3000, 1500]
    assert bet_return(1000, multi, odds, [WON, WON, VOID]) == 6000
    assert bet_return(1000, multi, odds, [WON, WON, LOST]) == 0
    assert bet_return(1000, multi, odds, [VOID, VOID, VOID]) == 1000


def test_multi_half_win_exact() -> None:
    # 2.0 * (0.5 + 0.5 * 3.0) * 1.5 = 2.0 * 2.0 * 1.5 = 6.0
    assert bet_return(1000, [(0, 1, 2)], [2000, 3000, 1500], [WON, HALF_WON, WON]) == 6000


def test_system_lost_leg_kills_only_its_lines() -> None:
    trixie = lines_for(BetType.SYSTEM, 3, "trixie")  # (0,1) (0,2) (1,2) (0,1,2)
    odds = [2000, 3000, 4000]
    returns = line_returns(100, trixie, odds, [WON, WON, LOST])
    assert returns == [600, 0, 0, 0]
    assert bet_return(100, trixie, odds, [WON, WON, LOST]) == 600
    patent = lines_for(BetType.SYSTEM, 3, "patent")  # singles too
    assert bet_return(100, patent, odds, [WON, WON, LOST]) == 200 + 300 + 600


def test_system_with_void_leg_turns_its_doubles_into_singles() -> None:
    trixie = lines_for(BetType.SYSTEM, 3, "trixie")
    # (0,1): 2*3=6, (0,2): 2*1=2, (1,2): 3*1=3, (0,1,2): 6  -> 17 per unit
    assert bet_return(100, trixie, [2000, 3000, 4000], [WON, WON, VOID]) == 1700


@pytest.mark.parametrize("name", ["trixie", "yankee", "lucky31", "goliath"])
def test_all_void_refunds_the_total_stake(name: str) -> None:
    legs = {"trixie": 3, "yankee": 4, "lucky31": 5, "goliath": 8}[name]
    lines = lines_for(BetType.SYSTEM, legs, name)
    odds = [2000 + 100 * i for i in range(legs)]
    assert bet_return(250, lines, odds, [VOID] * legs) == total_stake(250, len(lines))


def test_max_payout_clips_the_return() -> None:
    assert bet_return(1000, [(0,)], [50_000], [WON], max_payout=20_000) == 20_000
    assert bet_return(1000, [(0,)], [2000], [WON], max_payout=20_000) == 2000
    assert bet_return(1000, [(0,)], [2000], [WON], max_payout=None) == 2000


def test_rounding_is_down_per_line() -> None:
    assert line_return(999, [1001], [WON]) == 999  # 999.999
    assert line_return(1, [1999], [WON]) == 1  # 1.999
    # Two lines of 1.5 each round separately: 1 + 1, never 3.
    assert bet_return(1, [(0,), (1,)], [1500, 1500], [WON, WON]) == 2


def test_potential_and_combined_odds() -> None:
    assert potential_return(1000, [(0, 1)], [2000, 3000]) == 6000
    assert potential_return(100, expand_lines(3, (2, 3)), [2000, 3000, 4000]) == (
        600 + 800 + 1200 + 2400
    )
    assert combined_odds_milli([2000, 3000]) == 6000
    assert combined_odds_milli([1333, 1333]) == 1776  # 1.776889 rounded down
    assert combined_odds_milli([2500]) == 2500
    # The payout uses the exact product, not the rounded display price.
    assert potential_return(1_000_000, [(0, 1)], [1333, 1333]) == 1_776_889
    with pytest.raises(ValueError):
        combined_odds_milli([])


def test_malformed_lines_are_a_bug() -> None:
    with pytest.raises(ValueError):
        bet_return(100, [(0, 3)], [2000, 2000], [WON, WON])
    with pytest.raises(ValueError):
        bet_return(100, [(0, 0)], [2000, 2000], [WON, WON])
    with pytest.raises(ValueError):
        bet_return(100, [(0,)], [2000, 2000], [WON])
    with pytest.raises(ValueError):
        line_factor([], [])


# -- properties -------------------------------------------------------------------------------
odds_milli = st.integers(MIN_ODDS_MILLI, MAX_ODDS_MILLI)
stakes = st.integers(0, 10**9)
fractions01 = st.fractions(0, 1, max_denominator=1000)
leg_results = st.builds(
    LegResult,
    won=st.booleans(),
    void_factor=st.one_of(st.sampled_from([Fraction(0), HALF, Fraction(1)]), fractions01),
    dead_heat_factor=st.one_of(
        st.sampled_from([Fraction(1), HALF, THIRD, Fraction(1, 4)]),
        fractions01.filter(lambda f: f > 0),
    ),
)


@st.composite
def bets(draw: st.DrawFn) -> tuple[list[tuple[int, ...]], list[int], list[LegResult]]:
    legs = draw(st.integers(1, 6))
    sizes = tuple(sorted(draw(st.sets(st.integers(1, legs), min_size=1))))
    odds = draw(st.lists(odds_milli, min_size=legs, max_size=legs))
    results = draw(st.lists(leg_results, min_size=legs, max_size=legs))
    return expand_lines(legs, sizes), odds, results


def exact_return(
    stake: int, lines: Sequence[tuple[int, ...]], odds: Sequence[int], results: Sequence[LegResult]
) -> list[Fraction]:
    return [stake * line_factor([odds[i] for i in ln], [results[i] for i in ln]) for ln in lines]


Bet = tuple[list[tuple[int, ...]], list[int], list[LegResult]]


@given(bets(), stakes, st.integers(0, 5), st.integers(1, 500_000))
def test_payout_is_monotone_in_odds(bet: Bet, stake: int, leg: int, rise: int) -> None:
    lines, odds, results = bet
    assume(leg < len(odds))
    higher = list(odds)
    higher[leg] = min(MAX_ODDS_MILLI, odds[leg] + rise)
    assert bet_return(stake, lines, higher, results) >= bet_return(stake, lines, odds, results)
    assert potential_return(stake, lines, higher) >= potential_return(stake, lines, odds)


@given(bets(), stakes, st.integers(0, 10**6))
def test_payout_is_monotone_in_stake(bet: Bet, stake: int, more: int) -> None:
    lines, odds, results = bet
    assert bet_return(stake + more, lines, odds, results) >= bet_return(stake, lines, odds, results)


@given(bets(), stakes)
def test_rounding_down_never_overpays_and_loses_under_a_unit_per_line(bet: Bet, stake: int) -> None:
    lines, odds, results = bet
    exact = exact_return(stake, lines, odds, results)
    paid = line_returns(stake, lines, odds, results)
    for line_paid, line_exact in zip(paid, exact, strict=True):
        assert line_paid <= line_exact < line_paid + 1
    assert sum(paid) == bet_return(stake, lines, odds, results) <= sum(exact)


@given(bets(), stakes, st.integers(0, 10**12))
def test_return_never_exceeds_the_cap(bet: Bet, stake: int, cap: int) -> None:
    lines, odds, results = bet
    uncapped = bet_return(stake, lines, odds, results)
    capped = bet_return(stake, lines, odds, results, max_payout=cap)
    assert capped == min(uncapped, cap) <= cap


@given(bets(), stakes)
def test_return_is_at_most_the_potential_return(bet: Bet, stake: int) -> None:
    lines, odds, results = bet
    assert bet_return(stake, lines, odds, results) <= potential_return(stake, lines, odds)
    assert bet_return(stake, lines, odds, [WON] * len(odds)) == potential_return(stake, lines, odds)


@given(bets(), stakes)
def test_all_void_refunds_and_a_line_with_a_plain_loss_pays_nothing(bet: Bet, stake: int) -> None:
    lines, odds, results = bet
    assert bet_return(stake, lines, odds, [VOID] * len(odds)) == stake * len(lines)
    for line, paid in zip(lines, line_returns(stake, lines, odds, results), strict=True):
        if any(results[i] == LOST for i in line):
            assert paid == 0


@given(st.lists(odds_milli, min_size=1, max_size=8))
def test_combined_odds_is_the_product_rounded_down(odds: list[int]) -> None:
    exact = math.prod(Fraction(o, 1000) for o in odds) * 1000
    assert combined_odds_milli(odds) == math.floor(exact)


# -- cash-out ---------------------------------------------------------------------------------
def test_cash_out_examples() -> None:
    assert cash_out_quote(1000, [2000], [2000], margin=Fraction(0)) == 1000
    assert cash_out_quote(1000, [2000], [1500], margin=Fraction(0)) == 1333  # 1333.33
    assert cash_out_quote(1000, [2000], [1500], margin=Fraction(5, 100)) == 1266  # 1266.67
    assert cash_out_quote(1000, [2000], [4000], margin=Decimal("0.05")) == 475  # drifted
    # Multi: leg 0 already won at 2.0, leg 1 placed 3.0 now 1.5: 1000 * 2 * 3 / 1.5 = 4000.
    assert cash_out_quote(1000, [2000, 3000], [None, 1500], margin=Fraction(0)) == 4000
    assert cash_out_quote(1000, [2000, 3000], [None, 1500], margin=Fraction(1, 10)) == 3600


def test_cash_out_is_zero_once_a_leg_lost() -> None:
    assert cash_out_quote(1000, [2000, 3000], [2000, 1500], margin=0, lost=True) == 0
    quote = cash_out_quote(1000, [2000, 3000], [None, 1500], margin=0, results=[LOST, None])
    assert quote == 0


def test_cash_out_with_settled_void_and_half_results() -> None:
    # A void leg counts 1: only the live leg's price movement matters.
    assert cash_out_quote(1000, [2000, 3000], [None, 3000], margin=0, results=[VOID, None]) == 1000
    # An Asian half-win at 1.9 settled (1.45), the other leg unchanged.
    quote = cash_out_quote(1000, [1900, 3000], [None, 3000], margin=0, results=[HALF_WON, None])
    assert quote == 1450
    with pytest.raises(ValueError):  # settled yet still priced
        cash_out_quote(1000, [2000], [2000], margin=0, results=[WON])


def test_cash_out_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError):
        cash_out_quote(1000, [2000], [2000], margin=0.05)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cash_out_quote(1000, [2000], [2000], margin=Fraction(3, 2))
    with pytest.raises(ValueError):
        cash_out_quote(1000, [2000, 3000], [2000], margin=0)
    with pytest.raises(ValueError):
        cash_out_quote(1000, [2000], [1000], margin=0)
    assert cash_out_quote(1000, [2000], [2000], margin=1) == 0
    assert cash_out_quote(10**6, [50_000], [None], margin=0, max_payout=20_000) == 20_000


@st.composite
def cash_outs(draw: st.DrawFn) -> tuple[list[int], list[int | None]]:
    legs = draw(st.integers(1, 6))
    placed = draw(st.lists(odds_milli, min_size=legs, max_size=legs))
    current = [draw(st.one_of(st.none(), odds_milli)) for _ in range(legs)]
    return placed, current


margins = st.fractions(0, 1, max_denominator=1000)


@given(st.lists(odds_milli, min_size=1, max_size=6), stakes)
def test_unchanged_bet_cashes_out_at_its_stake(placed: list[int], stake: int) -> None:
    assert cash_out_quote(stake, placed, placed, margin=Fraction(0)) == stake


@given(cash_outs(), stakes, margins)
def test_cash_out_matches_the_issue_formula_rounded_down(
    bet: tuple[list[int], list[int | None]], stake: int, margin: Fraction
) -> None:
    placed, current = bet
    exact = stake * math.prod(Fraction(p, 1000) for p in placed) * (1 - margin)
    exact /= math.prod(Fraction(c, 1000) for c in current if c is not None)
    assert cash_out_quote(stake, placed, current, margin=margin) == math.floor(exact)
    assert cash_out_quote(stake, placed, current, margin=margin, lost=True) == 0


@given(cash_outs(), stakes, margins, margins)
def test_cash_out_falls_as_the_margin_rises(
    bet: tuple[list[int], list[int | None]], stake: int, low: Fraction, high: Fraction
) -> None:
    placed, current = bet
    low, high = sorted((low, high))
    assert cash_out_quote(stake, placed, current, margin=high) <= cash_out_quote(
        stake, placed, current, margin=low
    )


@given(cash_outs(), stakes, margins)
def test_cash_out_never_exceeds_the_potential_return(
    bet: tuple[list[int], list[int | None]], stake: int, margin: Fraction
) -> None:
    placed, current = bet
    potential = potential_return(stake, [tuple(range(len(placed)))], placed)
    quote = cash_out_quote(stake, placed, current, margin=margin)
    assert quote <= potential
    if all(c is None for c in current) and margin == 0:
        assert quote == potential  # every leg already won: the quote is the full return


# -- settling a whole bet -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("results", "status", "returned", "lines"),
    [
        ([WON, WON, WON], "won", 3 * 100 * 2 * 2, (400, 400, 400)),
        ([WON, LOST, WON], "won", 400, (0, 400, 0)),
        ([LOST, LOST, WON], "lost", 0, (0, 0, 0)),
        ([VOID, VOID, VOID], "void", 300, (100, 100, 100)),
        ([VOID, LOST, VOID], "won", 100, (0, 100, 0)),  # one line refunded: a return, "won"
        ([VOID, VOID, WON], "won", 100 + 200 + 200, (100, 200, 200)),
    ],
)
def test_settle_a_system_bet(
    results: list[LegResult], status: str, returned: int, lines: tuple[int, ...]
) -> None:
    combos = expand_lines(3, [2])  # a 2/3: (0, 1), (0, 2), (1, 2)
    outcome = settle(100, combos, [2000, 2000, 2000], results)
    assert (outcome.status, outcome.returned, outcome.line_returns) == (status, returned, lines)
    assert outcome.returned == bet_return(100, combos, [2000] * 3, results)


def test_settle_caps_the_bet_not_its_lines() -> None:
    outcome = settle(100, [(0,)], [5000], [WON], max_payout=300)
    assert (outcome.status, outcome.returned, outcome.line_returns) == ("won", 300, (500,))
