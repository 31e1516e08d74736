"""Demo fixtures for development (`make run`): a few football matches, a basketball game and a
tennis match priced by the simulated feed's models, so a newcomer can place and settle a bet at
once. They sit beside the simulated feed's week of fixtures and are never played."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.catalogue.service import EventExists, NewEvent, NewMarket
from letsbet.sportsbook.odds.basketball import BasketballModel
from letsbet.sportsbook.odds.pricing import MarginMethod, MatchModel
from letsbet.sportsbook.odds.sports import SPORTS
from letsbet.sportsbook.odds.tennis import TennisModel

MARGIN = 0.06
METHOD: MarginMethod = "power"
# sport, region, competition, home, away, pre-match model
FIXTURES: tuple[tuple[str, str, str, str, str, Any], ...] = (
    ("football", "Kenya", "Premier League", "Gor Mahia", "AFC Leopards", MatchModel(1.6, 1.0)),
    ("football", "Kenya", "Premier League", "Tusker", "Kakamega Homeboyz", MatchModel(1.3, 1.1)),
    ("football", "Nigeria", "NPFL", "Enyimba", "Rivers United", MatchModel(1.4, 1.2)),
    ("football", "Ghana", "Premier League", "Asante Kotoko", "Hearts of Oak", MatchModel(1.5, 1.2)),
    ("football", "England", "Premier League", "Arsenal", "Chelsea", MatchModel(1.7, 1.3)),
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
    for n, (sport_id, region, competition, home, away, model) in enumerate(FIXTURES):
        sport = SPORTS[sport_id]
        markets = [
            NewMarket(type=book.type.value, line=book.line, prices=book.prices)
            for book in sport.books(model, sport.start(model, 0), MARGIN, METHOD)
        ]
        try:
            await service.create_event(
                conn,
                NewEvent(
                    sport_id=sport_id,
                    competition=competition,
                    region=region,
                    home=home,
                    away=away,
                    starts_at=now + timedelta(hours=2 + 3 * n),
                    markets=markets,
                    external_id=f"demo:{home}:{away}",
                ),
                actor="demo",
            )
        except EventExists:
            continue
        created += 1
    return created
