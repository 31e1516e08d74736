"""Demo fixtures for development (`make run`): a few football matches, a basketball game and a
tennis match priced by the models, so a newcomer can place and settle a bet at once. They sit
beside the simulated feed's week of fixtures and are never played."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.catalogue.service import EventExists, NewEvent, NewMarket
from letsbet.sportsbook.markets import MarketType
from letsbet.sportsbook.odds.basketball import BasketballModel
from letsbet.sportsbook.odds.pricing import MatchModel, price_market
from letsbet.sportsbook.odds.sports import SPORTS
from letsbet.sportsbook.odds.tennis import TennisModel

MARGIN = 0.06
FIXTURES = (
    ("Kenya", "Premier League", "Gor Mahia", "AFC Leopards", 1.6, 1.0),
    ("Kenya", "Premier League", "Tusker", "Kakamega Homeboyz", 1.3, 1.1),
    ("Nigeria", "NPFL", "Enyimba", "Rivers United", 1.4, 1.2),
    ("Ghana", "Premier League", "Asante Kotoko", "Hearts of Oak", 1.5, 1.2),
    ("England", "Premier League", "Arsenal", "Chelsea", 1.7, 1.3),
)
MARKETS = (
    (MarketType.MATCH_RESULT, None),
    (MarketType.DOUBLE_CHANCE, None),
    (MarketType.BTTS, None),
    (MarketType.OVER_UNDER, 250),
    (MarketType.ASIAN_HANDICAP, -25),
)
# Priced with the simulated feed's markets: sport, region, competition, home, away, model.
OTHER_SPORTS: tuple[tuple[str, str, str, str, str, Any], ...] = (
    (
        "basketball",
        "Kenya",
        "KBF Premier League",
        "Kenya Ports Authority",
        "Ulinzi Warriors",
        BasketballModel(82.0, 77.0),
    ),
    (
        "tennis",
        "International",
        "Men's World Tour",
        "Hugo Martin",
        "Kenji Sato",
        TennisModel(0.67, 0.64),
    ),
)


async def seed(conn: AsyncConnection, *, now: datetime | None = None) -> int:
    """Create the demo fixtures that do not exist yet (keyed by external id); returns how many."""
    now = now or datetime.now(UTC)
    created = 0
    for n, (region, competition, home, away, home_rate, away_rate) in enumerate(FIXTURES):
        model = MatchModel(home_rate=home_rate, away_rate=away_rate)
        markets = [
            NewMarket(type=kind.value, line=line, prices=price_market(model, kind, line, MARGIN))
            for kind, line in MARKETS
        ]
        teams = ("football", region, competition, home, away)
        created += await _create(conn, teams, markets, now + timedelta(hours=2 + 3 * n))
    for n, (sport_id, region, competition, home, away, pre) in enumerate(
        OTHER_SPORTS, start=len(FIXTURES)
    ):
        sport = SPORTS[sport_id]
        markets = [
            NewMarket(type=book.type.value, line=book.line, prices=book.prices)
            for book in sport.books(pre, sport.start(pre, 0), MARGIN, "power")
        ]
        teams = (sport_id, region, competition, home, away)
        created += await _create(conn, teams, markets, now + timedelta(hours=2 + 3 * n))
    return created


async def _create(
    conn: AsyncConnection,
    teams: tuple[str, str, str, str, str],
    markets: list[NewMarket],
    starts_at: datetime,
) -> int:
    sport_id, region, competition, home, away = teams
    try:
        await service.create_event(
            conn,
            NewEvent(
                sport_id=sport_id,
                competition=competition,
                region=region,
                home=home,
                away=away,
                starts_at=starts_at,
                markets=markets,
                external_id=f"demo:{home}:{away}",
            ),
            actor="demo",
        )
    except EventExists:
        return 0
    return 1
