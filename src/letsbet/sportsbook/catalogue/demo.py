"""Demo fixtures for development (`make run`): a few football matches priced by the model, so a
newcomer can place and settle a bet at once. The simulated odds feed will replace this."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.catalogue.service import EventExists, NewEvent, NewMarket
from letsbet.sportsbook.markets import MarketType
from letsbet.sportsbook.odds.pricing import MatchModel, price_market

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
        try:
            await service.create_event(
                conn,
                NewEvent(
                    sport_id="football",
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
