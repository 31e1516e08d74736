"""Pure catalogue rules: odds, lines, factors, limits, market shapes, cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.catalogue.service import (
    InvalidCursor,
    InvalidLimit,
    InvalidMarket,
    InvalidOdds,
    InvalidResult,
    NewMarket,
    OutcomeResult,
)


@pytest.mark.parametrize(
    ("text", "milli"),
    [("2.5", 2500), ("2.50", 2500), ("1.333", 1333), ("1.001", 1001), ("1000", 1_000_000)],
)
def test_parse_odds_is_exact(text: str, milli: int) -> None:
    assert service.parse_odds(text) == milli


@pytest.mark.parametrize(
    "text", ["1.000", "1", "0.5", "1000.001", "abc", "2,50", "2.5000", "-2.5", " 2.5", "2.", ""]
)
def test_bad_odds_are_invalid_odds(text: str) -> None:
    with pytest.raises(InvalidOdds):
        service.parse_odds(text)


@pytest.mark.parametrize(
    ("milli", "text"), [(2500, "2.50"), (1333, "1.333"), (1010, "1.01"), (1_000_000, "1000.00")]
)
def test_format_odds_two_or_three_decimals(milli: int, text: str) -> None:
    assert service.format_odds(milli) == text


@given(st.integers(min_value=1001, max_value=1_000_000))
def test_odds_round_trip(milli: int) -> None:
    assert service.parse_odds(service.format_odds(milli)) == milli


@pytest.mark.parametrize(
    ("text", "hundredths", "shown"),
    [
        ("2.5", 250, "2.5"),
        ("-0.75", -75, "-0.75"),
        ("+1", 100, "1"),
        ("0", 0, "0"),
        ("2.25", 225, "2.25"),
    ],
)
def test_lines(text: str, hundredths: int, shown: str) -> None:
    assert service.parse_line(text) == hundredths
    assert service.format_line(hundredths) == shown


@given(st.integers(min_value=-3999, max_value=3999).map(lambda n: n * 25))
def test_line_round_trip(hundredths: int) -> None:
    assert service.parse_line(service.format_line(hundredths, signed=True)) == hundredths


@pytest.mark.parametrize("text", ["2.3", "2.10", "abc", "1e2", "--1", "1000.5"])
def test_bad_lines_are_invalid_market(text: str) -> None:
    with pytest.raises(InvalidMarket):
        service.parse_line(text)


def _market(type_: str, keys: tuple[str, ...], line: int | None = None) -> NewMarket:
    return NewMarket(type=type_, line=line, prices=dict.fromkeys(keys, 2000))


@pytest.mark.parametrize(
    "market",
    [
        _market("1x2", ("home", "draw", "away")),
        _market("double_chance", ("1X", "12", "X2")),
        _market("btts", ("yes", "no")),
        _market("over_under", ("over", "under"), 225),
        _market("handicap", ("home", "draw", "away"), -100),
        _market("asian_handicap", ("home", "away"), -75),
        _market("asian_handicap", ("home", "away"), 0),
        _market("moneyline", ("home", "away")),
        _market("over_under", ("over", "under"), 16250),
        _market("total_games", ("over", "under"), 2250),
        _market("game_handicap", ("home", "away"), -350),
    ],
)
def test_valid_markets(market: NewMarket) -> None:
    assert service.check_market(market).keys == tuple(service.MARKET_RULES[market.type].keys)


@pytest.mark.parametrize(
    ("market", "says"),
    [
        (_market("correct_score", ("home",)), "Unknown market type"),
        (_market("1x2", ("home", "away")), "missing draw"),
        (_market("1x2", ("home", "draw", "away", "other")), "unknown other"),
        (_market("1x2", ("home", "draw", "away"), 250), "takes no line"),
        (_market("over_under", ("over", "under")), "needs a line"),
        (_market("over_under", ("over", "under"), -250), "positive line"),
        (_market("handicap", ("home", "draw", "away"), -50), "whole-number line"),
        (_market("moneyline", ("home", "draw", "away")), "unknown draw"),
        (_market("moneyline", ("home", "away"), 50), "takes no line"),
        (_market("total_games", ("over", "under"), -2250), "positive line"),
    ],
)
def test_invalid_markets(market: NewMarket, says: str) -> None:
    with pytest.raises(InvalidMarket, match=says):
        service.check_market(market)


def test_default_outcome_names() -> None:
    def name(key: str, line: int | None = None) -> str:
        return service.outcome_name(key, home="Gor Mahia", away="Leopards", line=line)

    assert name("home") == "Gor Mahia" and name("draw") == "Draw"
    assert name("1X") == "Gor Mahia or draw" and name("X2") == "Draw or Leopards"
    assert name("over", 250) == "Over 2.5" and name("under", 225) == "Under 2.25"
    assert name("home", -75) == "Gor Mahia -0.75" and name("away", -75) == "Leopards +0.75"
    assert name("home", 0) == "Gor Mahia 0"


@pytest.mark.parametrize(
    ("void", "dead_heat", "result", "canonical"),
    [
        (None, None, "won", ("won", None, None)),
        (Decimal("0"), Decimal("1"), "won", ("won", None, None)),  # neutral values → NULL
        (Decimal("0.5"), None, "lost", ("lost", Decimal("0.5"), None)),
        (None, Decimal("0.5"), "won", ("won", None, Decimal("0.5"))),
        (Decimal("1"), None, "lost", ("lost", Decimal("1"), None)),
    ],
)
def test_result_canonical_form(
    void: Decimal | None,
    dead_heat: Decimal | None,
    result: str,
    canonical: tuple[str, Decimal | None, Decimal | None],
) -> None:
    outcome = OutcomeResult(1, result, void_factor=void, dead_heat_factor=dead_heat)
    assert outcome.canonical() == canonical


@pytest.mark.parametrize(
    ("result", "dead_heat"), [("lost", Decimal("0.5")), ("won", Decimal("0")), ("void", None)]
)
def test_bad_results(result: str, dead_heat: Decimal | None) -> None:
    with pytest.raises(InvalidResult):
        OutcomeResult(1, result, dead_heat_factor=dead_heat).canonical()


@pytest.mark.parametrize("text", ["1.5", "2", "abc", "0.12345", "-0.5", ".5"])
def test_bad_factors(text: str) -> None:
    with pytest.raises(InvalidResult):
        service.parse_factor(text, "void_factor")


def test_factors_and_limits() -> None:
    assert service.parse_factor("0.5", "void_factor") == Decimal("0.5")
    assert service.format_factor(Decimal("0.5000")) == "0.5"
    assert service.format_factor(Decimal("1.0000")) == "1"
    assert service.limit_minor(Decimal("5000.5")) == 500050
    assert service.format_limit(500050) == "5000.50"
    for bad in (Decimal("0"), Decimal("-1"), Decimal("0.001")):
        with pytest.raises(InvalidLimit):
            service.limit_minor(bad)


def test_cursor_round_trip() -> None:
    at = datetime(2026, 5, 17, 15, 0, 0, 123456, tzinfo=UTC)
    assert service.decode_cursor(service.encode_cursor(at, 42)) == (at, 42)
    before_1970 = datetime(1960, 1, 1, tzinfo=UTC)
    assert service.decode_cursor(service.encode_cursor(before_1970, 1)) == (before_1970, 1)


@pytest.mark.parametrize(
    "cursor", ["", "!!!", "a", "MTIz", "x" * 65, "OTk5OTk5OTk5OTk5OTk5OTk5LjE"]
)
def test_bad_cursors(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        service.decode_cursor(cursor)


@pytest.mark.parametrize("milli", [1000, 1_000_001, 0, -2000])
def test_prices_from_a_feed_are_range_checked_too(milli: int) -> None:
    with pytest.raises(InvalidOdds):
        service.check_market(NewMarket("btts", None, {"yes": milli, "no": 2000}))
