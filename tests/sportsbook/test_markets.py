"""Markets: lines, names and settlement from the final counts (score or games). Pure, no I/O."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.sportsbook.markets import (
    HALF_LOSS,
    HALF_WIN,
    LOSS,
    OUTCOME_KEYS,
    PUSH,
    WIN,
    InvalidMarket,
    MarketType,
    OutcomeSettlement,
    check_line,
    format_line,
    market_name,
    outcome_name,
    parse_line,
    settle,
)

M = MarketType
W, HW, P, HL, L = WIN, HALF_WIN, PUSH, HALF_LOSS, LOSS
MIRROR = {WIN: LOSS, HALF_WIN: HALF_LOSS, PUSH: PUSH, HALF_LOSS: HALF_WIN, LOSS: WIN}

goals = st.integers(min_value=0, max_value=12)
asian_lines = st.integers(min_value=-40, max_value=40).map(lambda q: q * 25)
total_lines = st.integers(min_value=1, max_value=40).map(lambda q: q * 25)
odds = st.integers(min_value=1001, max_value=1_000_000)


def score_for(diff: int, base: int = 1) -> tuple[int, int]:
    """A score with goal difference `diff` (home - away), at least `base` goals a side."""
    return base + max(diff, 0), base + max(-diff, 0)


def score_with_total(total: int) -> tuple[int, int]:
    return total // 2 + total % 2, total // 2


# -- the five results --------------------------------------------------------------------------
def test_results_feed_the_settlement_formula() -> None:
    # factor = void + (1 - void) * (odds * dead_heat if won else 0), at odds 1.90
    assert WIN.factor(1900) == Fraction(19, 10)
    assert LOSS.factor(1900) == 0
    assert PUSH.factor(1900) == 1
    assert HALF_WIN.factor(1900) == Fraction(1, 2) + Fraction(19, 20)  # 1.45
    assert HALF_LOSS.factor(1900) == Fraction(1, 2)
    assert (WIN.void_factor, PUSH.void_factor, HALF_WIN.void_factor) == (0, 1, Fraction(1, 2))
    assert all(r.dead_heat_factor == 1 for r in MIRROR)
    dead_heat = OutcomeSettlement(won=True, dead_heat_factor=Fraction(1, 2))
    assert dead_heat.factor(3000) == Fraction(3, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"void_factor": Fraction(-1, 2)},
        {"void_factor": Fraction(3, 2)},
        {"dead_heat_factor": Fraction(0)},
        {"dead_heat_factor": Fraction(5, 4)},
    ],
)
def test_settlement_factors_are_checked(kwargs: dict[str, Fraction]) -> None:
    with pytest.raises(ValueError):
        OutcomeSettlement(won=True, **kwargs)


@pytest.mark.parametrize("bad", [0, -1500, True])
def test_factor_needs_positive_int_odds(bad: int) -> None:
    with pytest.raises(ValueError):
        WIN.factor(bad)


# -- lines ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("market_type", "text", "hundredths"),
    [
        (M.OVER_UNDER, "2.5", 250),
        (M.OVER_UNDER, "2.50", 250),
        (M.OVER_UNDER, "+2.25", 225),
        (M.OVER_UNDER, "0.5", 50),
        (M.OVER_UNDER, "0.75", 75),
        (M.OVER_UNDER, "3", 300),
        (M.OVER_UNDER, " 3.0 ", 300),
        (M.ASIAN_HANDICAP, "-0.75", -75),
        (M.ASIAN_HANDICAP, "+0.25", 25),
        (M.ASIAN_HANDICAP, "0", 0),
        (M.ASIAN_HANDICAP, "-0", 0),
        (M.ASIAN_HANDICAP, "-2.0", -200),
        (M.ASIAN_HANDICAP, "1.5", 150),
        (M.HANDICAP, "+1", 100),
        (M.HANDICAP, "-2", -200),
        (M.HANDICAP, "0", 0),
        (M.OVER_UNDER, "162.5", 16250),  # basketball points
        (M.ASIAN_HANDICAP, "-6.5", -650),
        (M.TOTAL_GAMES, "22.5", 2250),
        (M.GAME_HANDICAP, "+3.5", 350),
        (M.MONEYLINE, None, None),
        (M.MATCH_RESULT, None, None),
        (M.DOUBLE_CHANCE, None, None),
        (M.BTTS, "", None),
    ],
)
def test_parse_line(market_type: MarketType, text: str | None, hundredths: int | None) -> None:
    assert parse_line(market_type, text) == hundredths


@pytest.mark.parametrize(
    ("market_type", "text"),
    [
        (M.OVER_UNDER, None),  # needs a line
        (M.OVER_UNDER, "0"),  # positive only
        (M.OVER_UNDER, "-2.5"),
        (M.OVER_UNDER, "2.1"),  # not a quarter
        (M.OVER_UNDER, "400.5"),  # above the cap
        (M.TOTAL_GAMES, "-22.5"),
        (M.TOTAL_GAMES, None),
        (M.ASIAN_HANDICAP, "-0.3"),
        (M.ASIAN_HANDICAP, "60.25"),
        (M.GAME_HANDICAP, "-61"),
        (M.MONEYLINE, "0.5"),
        (M.ASIAN_HANDICAP, ""),
        (M.HANDICAP, "0.5"),  # whole lines only
        (M.HANDICAP, "-1.25"),
        (M.MATCH_RESULT, "0.5"),  # no line
        (M.BTTS, "0"),
        (M.OVER_UNDER, "2.5.1"),
        (M.OVER_UNDER, "1e1"),
        (M.OVER_UNDER, "nan"),
        (M.OVER_UNDER, ".5"),
        (M.OVER_UNDER, "2.505"),
        (M.OVER_UNDER, "٢.5"),  # Arabic-Indic digit
        ("corners", "2.5"),
    ],
)
def test_parse_line_rejects(market_type: MarketType, text: str | None) -> None:
    with pytest.raises(InvalidMarket) as caught:
        parse_line(market_type, text)
    assert isinstance(caught.value, ValueError)
    assert (caught.value.status_code, caught.value.code) == (422, "invalid_market")


@pytest.mark.parametrize(
    ("market_type", "line"),
    [(M.MATCH_RESULT, 0), (M.ASIAN_HANDICAP, None), (M.HANDICAP, 50), (M.OVER_UNDER, True)],
)
def test_check_line_rejects(market_type: MarketType, line: int | None) -> None:
    with pytest.raises(InvalidMarket):
        check_line(market_type, line)


@given(asian_lines)
def test_asian_lines_round_trip(line: int) -> None:
    assert parse_line(M.ASIAN_HANDICAP, format_line(M.ASIAN_HANDICAP, line)) == line


@given(total_lines)
def test_total_lines_round_trip(line: int) -> None:
    assert parse_line(M.OVER_UNDER, format_line(M.OVER_UNDER, line)) == line


@given(st.integers(min_value=-10, max_value=10))
def test_handicap_lines_round_trip(goals_: int) -> None:
    line = goals_ * 100
    assert parse_line(M.HANDICAP, format_line(M.HANDICAP, line)) == line


# -- names ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("market_type", "line", "name", "outcomes"),
    [
        (M.MATCH_RESULT, None, "1X2", ["Arsenal", "Draw", "Chelsea"]),
        (
            M.DOUBLE_CHANCE,
            None,
            "Double Chance",
            ["Arsenal or Draw", "Arsenal or Chelsea", "Draw or Chelsea"],
        ),
        (M.OVER_UNDER, 250, "Over/Under 2.5", ["Over 2.5", "Under 2.5"]),
        (M.OVER_UNDER, 225, "Over/Under 2.25", ["Over 2.25", "Under 2.25"]),
        (M.OVER_UNDER, 300, "Over/Under 3.0", ["Over 3.0", "Under 3.0"]),
        (M.BTTS, None, "Both Teams To Score", ["Yes", "No"]),
        (M.HANDICAP, -100, "Handicap -1", ["Arsenal (-1)", "Draw (-1)", "Chelsea (+1)"]),
        (M.HANDICAP, 200, "Handicap +2", ["Arsenal (+2)", "Draw (+2)", "Chelsea (-2)"]),
        (M.ASIAN_HANDICAP, -75, "Asian Handicap -0.75", ["Arsenal -0.75", "Chelsea +0.75"]),
        (M.ASIAN_HANDICAP, 0, "Asian Handicap 0", ["Arsenal 0", "Chelsea 0"]),
        (M.ASIAN_HANDICAP, 100, "Asian Handicap +1.0", ["Arsenal +1.0", "Chelsea -1.0"]),
        (M.ASIAN_HANDICAP, -150, "Asian Handicap -1.5", ["Arsenal -1.5", "Chelsea +1.5"]),
        (M.MONEYLINE, None, "Winner", ["Arsenal", "Chelsea"]),
        (M.OVER_UNDER, 16250, "Over/Under 162.5", ["Over 162.5", "Under 162.5"]),
        (M.TOTAL_GAMES, 2250, "Total Games 22.5", ["Over 22.5", "Under 22.5"]),
        (M.GAME_HANDICAP, -350, "Game Handicap -3.5", ["Arsenal -3.5", "Chelsea +3.5"]),
    ],
)
def test_names(market_type: MarketType, line: int | None, name: str, outcomes: list[str]) -> None:
    assert market_name(market_type, line) == name
    keys = OUTCOME_KEYS[market_type]
    assert [outcome_name(market_type, k, line, "Arsenal", "Chelsea") for k in keys] == outcomes


def test_outcome_name_rejects_an_unknown_key() -> None:
    with pytest.raises(InvalidMarket):
        outcome_name(M.MATCH_RESULT, "over", None, "A", "B")
    with pytest.raises(InvalidMarket):
        market_name(M.OVER_UNDER, None)


# -- settlement tables ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ((2, 1), {"home": W, "draw": L, "away": L}),
        ((0, 0), {"home": L, "draw": W, "away": L}),
        ((3, 3), {"home": L, "draw": W, "away": L}),
        ((0, 4), {"home": L, "draw": L, "away": W}),
    ],
)
def test_match_result(score: tuple[int, int], expected: dict[str, OutcomeSettlement]) -> None:
    assert settle(M.MATCH_RESULT, None, *score) == expected


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ((2, 1), {"1X": W, "12": W, "X2": L}),
        ((1, 1), {"1X": W, "12": L, "X2": W}),
        ((0, 1), {"1X": L, "12": W, "X2": W}),
    ],
)
def test_double_chance(score: tuple[int, int], expected: dict[str, OutcomeSettlement]) -> None:
    assert settle(M.DOUBLE_CHANCE, None, *score) == expected


@pytest.mark.parametrize(
    ("score", "yes"), [((1, 1), W), ((3, 1), W), ((0, 0), L), ((2, 0), L), ((0, 5), L)]
)
def test_both_teams_to_score(score: tuple[int, int], yes: OutcomeSettlement) -> None:
    assert settle(M.BTTS, None, *score) == {"yes": yes, "no": MIRROR[yes]}


@pytest.mark.parametrize(
    ("line", "score", "winner"),
    [
        (-100, (2, 1), "draw"),  # home -1 wins by exactly one: the handicap draw
        (-100, (3, 1), "home"),
        (-100, (1, 1), "away"),
        (-200, (3, 1), "draw"),
        (-200, (4, 1), "home"),
        (100, (0, 1), "draw"),  # home +1 loses by one
        (100, (0, 0), "home"),
        (100, (0, 2), "away"),
        (0, (1, 1), "draw"),
        (0, (2, 1), "home"),
    ],
)
def test_european_handicap(line: int, score: tuple[int, int], winner: str) -> None:
    expected = {key: W if key == winner else L for key in ("home", "draw", "away")}
    assert settle(M.HANDICAP, line, *score) == expected


# Home Asian handicap line (hundredths) -> home result for goal difference -2, -1, 0, +1, +2.
# Quarter lines are half the stake on each neighbouring line: -0.75 = -0.5 and -1.0.
ASIAN_TABLE: dict[int, tuple[OutcomeSettlement, ...]] = {
    -200: (L, L, L, L, P),
    -175: (L, L, L, L, HW),  # wins by 2: -1.5 wins, -2.0 pushes
    -150: (L, L, L, L, W),
    -125: (L, L, L, HL, W),  # wins by 1: -1.0 pushes, -1.5 loses
    -100: (L, L, L, P, W),
    -75: (L, L, L, HW, W),  # wins by 1: -0.5 wins, -1.0 pushes
    -50: (L, L, L, W, W),
    -25: (L, L, HL, W, W),  # draw: 0 pushes, -0.5 loses
    0: (L, L, P, W, W),  # draw no bet
    25: (L, L, HW, W, W),  # draw: 0 pushes, +0.5 wins
    50: (L, L, W, W, W),
    75: (L, HL, W, W, W),  # loses by 1: +1.0 pushes, +0.5 loses
    100: (L, P, W, W, W),
    125: (L, HW, W, W, W),  # loses by 1: +1.0 pushes, +1.5 wins
    150: (L, W, W, W, W),
    175: (HL, W, W, W, W),  # loses by 2: +2.0 pushes, +1.5 loses
    200: (P, W, W, W, W),
}


@pytest.mark.parametrize("line", sorted(ASIAN_TABLE))
@pytest.mark.parametrize("base", [0, 2])
def test_asian_handicap_table(line: int, base: int) -> None:
    for diff, home in zip(range(-2, 3), ASIAN_TABLE[line], strict=True):
        result = settle(M.ASIAN_HANDICAP, line, *score_for(diff, base))
        assert result == {"home": home, "away": MIRROR[home]}, (line, diff)


@pytest.mark.parametrize(
    ("line", "score", "home", "away"),
    [
        (-25, (1, 1), HL, HW),  # home -0.25 and a draw
        (-75, (2, 1), HW, HL),  # home -0.75 winning by exactly one
        (25, (0, 0), HW, HL),  # home +0.25 and a draw
        (-75, (0, 0), L, W),
        (-125, (3, 2), HL, HW),
        (75, (0, 1), HL, HW),
    ],
)
def test_asian_quarter_examples(
    line: int, score: tuple[int, int], home: OutcomeSettlement, away: OutcomeSettlement
) -> None:
    assert settle(M.ASIAN_HANDICAP, line, *score) == {"home": home, "away": away}


# Over/under line -> "over" result for 0, 1, 2, 3, 4 goals in the match.
TOTALS_TABLE: dict[int, tuple[OutcomeSettlement, ...]] = {
    50: (L, W, W, W, W),
    75: (L, HW, W, W, W),  # 1 goal: over 0.5 wins, over 1.0 pushes
    100: (L, P, W, W, W),
    125: (L, HL, W, W, W),  # 1 goal: over 1.0 pushes, over 1.5 loses
    150: (L, L, W, W, W),
    175: (L, L, HW, W, W),
    200: (L, L, P, W, W),
    225: (L, L, HL, W, W),  # over 2.25 with 2 goals: half-loss, under half-win
    250: (L, L, L, W, W),
    275: (L, L, L, HW, W),
    300: (L, L, L, P, W),
    325: (L, L, L, HL, W),
    350: (L, L, L, L, W),
}


@pytest.mark.parametrize("line", sorted(TOTALS_TABLE))
def test_over_under_table(line: int) -> None:
    for total, over in enumerate(TOTALS_TABLE[line]):
        result = settle(M.OVER_UNDER, line, *score_with_total(total))
        assert result == {"over": over, "under": MIRROR[over]}, (line, total)


def test_over_under_low_quarter_line() -> None:
    assert settle(M.OVER_UNDER, 25, 0, 0) == {"over": HL, "under": HW}  # 0 pushes, 0.5 loses
    assert settle(M.OVER_UNDER, 25, 1, 0) == {"over": W, "under": L}


@pytest.mark.parametrize(
    ("market_type", "line", "home", "away"),
    [
        (M.MATCH_RESULT, None, -1, 0),
        (M.MATCH_RESULT, None, True, 0),
        (M.BTTS, None, 0, 1.0),
        (M.OVER_UNDER, None, 1, 1),
        (M.MATCH_RESULT, 100, 1, 1),
        (M.ASIAN_HANDICAP, 30, 1, 1),
    ],
)
def test_settle_rejects(market_type: MarketType, line: int | None, home: int, away: int) -> None:
    with pytest.raises(ValueError):
        settle(market_type, line, home, away)


# -- properties -------------------------------------------------------------------------------
@given(asian_lines, goals, goals)
def test_asian_sides_mirror_each_other(line: int, home: int, away: int) -> None:
    result = settle(M.ASIAN_HANDICAP, line, home, away)
    assert set(result) == {"home", "away"}
    assert result["away"] == MIRROR[result["home"]]
    assert result["home"] in MIRROR


@given(total_lines, goals, goals)
def test_over_under_sides_mirror_each_other(line: int, home: int, away: int) -> None:
    result = settle(M.OVER_UNDER, line, home, away)
    assert result["under"] == MIRROR[result["over"]]


@given(asian_lines, goals, goals)
def test_asian_line_is_the_away_sides_opposite_line(line: int, home: int, away: int) -> None:
    # Backing the away side at +x is backing a home side at +x in the mirrored fixture.
    assert (
        settle(M.ASIAN_HANDICAP, line, home, away)["away"]
        == (settle(M.ASIAN_HANDICAP, -line, away, home)["home"])
    )


@given(asian_lines.filter(lambda x: x % 50), goals, goals, odds)
def test_asian_quarter_line_is_two_half_stakes(line: int, home: int, away: int, o: int) -> None:
    whole = settle(M.ASIAN_HANDICAP, line, home, away)
    lower = settle(M.ASIAN_HANDICAP, line - 25, home, away)
    upper = settle(M.ASIAN_HANDICAP, line + 25, home, away)
    for key in ("home", "away"):
        assert whole[key].factor(o) == (lower[key].factor(o) + upper[key].factor(o)) / 2


@given(total_lines.filter(lambda x: x % 50 and x > 25), goals, goals, odds)
def test_quarter_total_is_two_half_stakes(line: int, home: int, away: int, o: int) -> None:
    whole = settle(M.OVER_UNDER, line, home, away)
    lower = settle(M.OVER_UNDER, line - 25, home, away)
    upper = settle(M.OVER_UNDER, line + 25, home, away)
    for key in ("over", "under"):
        assert whole[key].factor(o) == (lower[key].factor(o) + upper[key].factor(o)) / 2


@given(total_lines.filter(lambda x: x % 100 == 0), goals, goals)
def test_whole_totals_push_on_the_line(line: int, home: int, away: int) -> None:
    result = settle(M.OVER_UNDER, line, home, away)
    pushed = 100 * (home + away) == line
    assert (result["over"] == PUSH) == pushed
    assert (result["under"] == PUSH) == pushed


@given(goals, goals)
def test_exactly_one_winner_in_three_way_markets(home: int, away: int) -> None:
    for market_type, line in ((M.MATCH_RESULT, None), (M.HANDICAP, -100), (M.HANDICAP, 200)):
        result = settle(market_type, line, home, away)
        assert list(result) == list(OUTCOME_KEYS[market_type])
        assert sorted(result.values(), key=lambda r: r.won) == [L, L, W]


@given(goals, goals)
def test_double_chance_has_two_winners(home: int, away: int) -> None:
    result = settle(M.DOUBLE_CHANCE, None, home, away)
    assert sum(r == W for r in result.values()) == 2
    assert sum(r == L for r in result.values()) == 1


@given(goals, goals)
def test_markets_agree_with_each_other(home: int, away: int) -> None:
    match_result = settle(M.MATCH_RESULT, None, home, away)
    double_chance = settle(M.DOUBLE_CHANCE, None, home, away)
    assert settle(M.HANDICAP, 0, home, away) == match_result
    assert settle(M.ASIAN_HANDICAP, -50, home, away)["home"] == match_result["home"]
    assert settle(M.ASIAN_HANDICAP, 50, home, away)["home"] == double_chance["1X"]
    assert settle(M.ASIAN_HANDICAP, -50, home, away)["away"] == double_chance["X2"]
    draw_no_bet = settle(M.ASIAN_HANDICAP, 0, home, away)["home"]
    assert draw_no_bet == (PUSH if home == away else match_result["home"])
    btts = settle(M.BTTS, None, home, away)
    assert btts["yes"] == (W if min(home, away) > 0 else L)


@given(st.sampled_from(list(MarketType)), goals, goals)
def test_settle_covers_every_outcome_key(market_type: MarketType, home: int, away: int) -> None:
    line = {
        M.OVER_UNDER: 250,
        M.HANDICAP: -100,
        M.ASIAN_HANDICAP: -25,
        M.TOTAL_GAMES: 2250,
        M.GAME_HANDICAP: -350,
    }.get(market_type)
    assert tuple(settle(market_type, line, home, away)) == OUTCOME_KEYS[market_type]


# -- two-way winners and the other sports' counts ---------------------------------------------
points = st.integers(min_value=0, max_value=160)
half_spreads = st.integers(min_value=-60, max_value=59).map(lambda n: n * 100 + 50)
half_totals = st.integers(min_value=0, max_value=399).map(lambda n: n * 100 + 50)


@given(points, points)
def test_moneyline_has_one_winner_and_a_level_score_pushes(home: int, away: int) -> None:
    result = settle(M.MONEYLINE, None, home, away)
    if home == away:
        assert result == {"home": P, "away": P}
    else:
        winner, loser = ("home", "away") if home > away else ("away", "home")
        assert (result[winner], result[loser]) == (W, L)
    # A winner is a draw-no-bet Asian handicap.
    assert result == settle(M.ASIAN_HANDICAP, 0, home, away)


@given(half_spreads, points, points)
def test_half_point_spreads_never_push(line: int, home: int, away: int) -> None:
    result = settle(M.ASIAN_HANDICAP, line, home, away)
    assert {result["home"], result["away"]} == {W, L}
    assert result["home"] == (W if 100 * (home - away) + line > 0 else L)


@given(half_totals, points, points)
def test_half_point_totals_never_push(line: int, home: int, away: int) -> None:
    result = settle(M.OVER_UNDER, line, home, away)
    assert result["over"] == (W if 100 * (home + away) > line else L)
    assert result["under"] == MIRROR[result["over"]]


@given(total_lines, goals, goals)
def test_game_markets_settle_like_their_score_twins(line: int, home: int, away: int) -> None:
    # total_games and game_handicap count games won; their rules are over/under's and the
    # Asian handicap's, quarter lines and pushes included.
    assert settle(M.TOTAL_GAMES, line, home, away) == settle(M.OVER_UNDER, line, home, away)
    assert settle(M.GAME_HANDICAP, -line, home, away) == settle(M.ASIAN_HANDICAP, -line, home, away)


@given(st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=30))
def test_margin_markets_depend_on_the_margin_and_totals_on_the_total(
    total: int, shift: int
) -> None:
    # Pricing stands a margin m for the score (m, 0) and a total t for (t, 0): exact only
    # because of these invariances.
    home, away = total // 2 + total % 2, total // 2
    for market_type, line in ((M.MONEYLINE, None), (M.ASIAN_HANDICAP, -350)):
        assert settle(market_type, line, home + shift, away + shift) == settle(
            market_type, line, home - away, 0
        )
    assert settle(M.OVER_UNDER, 1650, home, away) == settle(M.OVER_UNDER, 1650, total, 0)


def test_basketball_and_tennis_examples() -> None:
    # 88-84: home -3.5 covers, total 172 is over 162.5; 2-1 in sets with 20-17 in games.
    assert settle(M.ASIAN_HANDICAP, -350, 88, 84) == {"home": W, "away": L}
    assert settle(M.ASIAN_HANDICAP, -450, 88, 84) == {"home": L, "away": W}
    assert settle(M.OVER_UNDER, 16250, 88, 84) == {"over": W, "under": L}
    assert settle(M.ASIAN_HANDICAP, -150, 2, 1) == {"home": L, "away": W}  # set handicap
    assert settle(M.TOTAL_GAMES, 3650, 20, 17) == {"over": W, "under": L}
    assert settle(M.GAME_HANDICAP, -300, 20, 17) == {"home": P, "away": P}
    assert settle(M.GAME_HANDICAP, -275, 20, 17) == {"home": HW, "away": HL}
