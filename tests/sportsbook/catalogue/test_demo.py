"""The development fixtures are priced by the model, valid, and seeded once."""

from __future__ import annotations

import httpx

from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.catalogue.demo import FIXTURES, OTHER_SPORTS, seed


async def test_demo_fixtures_seed_once_and_are_listed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with runtime.db.transaction() as conn:
        first = await seed(conn)
    async with runtime.db.transaction() as conn:
        second = await seed(conn)
    assert (first, second) == (len(FIXTURES) + len(OTHER_SPORTS), 0)
    homes = {fixture[3] for fixture in OTHER_SPORTS}
    listed = (await client.get("/api/events", params={"limit": 100})).json()["items"]
    demo = [e for e in listed if e["home"] == "Gor Mahia"]
    assert len(demo) == 1
    detail = (await client.get(f"/api/events/{demo[0]['id']}")).json()
    assert {m["type"] for m in detail["markets"]} >= {"1x2", "btts", "over_under"}
    for sport, types in (
        ("basketball", {"moneyline", "asian_handicap", "over_under"}),
        ("tennis", {"moneyline", "asian_handicap", "total_games", "game_handicap"}),
    ):
        (game,) = [e for e in listed if e["sport"] == sport and e["home"] in homes]
        detail = (await client.get(f"/api/events/{game['id']}")).json()
        assert {m["type"] for m in detail["markets"]} == types
