"""Crash test helpers: a clock tests move by hand, games on fresh chains with known crash points,
funded players, and a real NATS subscription collecting the live frames."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa

from letsbet.crash import feed
from letsbet.crash.chains import ChainReader, store_chain
from letsbet.crash.config import GameConfig
from letsbet.crash.engine import RoundEngine
from letsbet.crash.fairness import CrashPoints, derive_key, generate_chain, walk
from letsbet.crash.games import CrashGames
from letsbet.crash.tables import crash_bets, crash_rounds
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
from letsbet.platform.runtime import Runtime
from letsbet.tenants import get_tenant
from tests.support import create_players, poll_until

SALT = "letsbet-test-salt"


class ManualClock:
    """The engine's and the commands' only clock in these tests: time moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        now = start or datetime.now(UTC)
        self.now = now.replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when


@dataclass
class Game:
    """A crash game on its own fresh chain, with the crash points it will play, in order."""

    runtime: Runtime
    config: GameConfig
    clock: ManualClock
    crash_points: list[int]
    seed_hex: str
    length: int
    games: CrashGames = field(init=False)

    def __post_init__(self) -> None:
        self.games = CrashGames(
            self.runtime, games={self.config.game_id: self.config}, clock=self.clock
        )

    @property
    def game_id(self) -> str:
        return self.config.game_id

    def game_hash(self, number: int) -> str:
        return walk(self.seed_hex, self.length - number)

    def engine(self, **overrides: Any) -> RoundEngine:
        key = derive_key(self.runtime.settings.crash_chain_secret)
        return RoundEngine(
            self.runtime.db,
            replace(self.config, **overrides) if overrides else self.config,
            feed=feed.NatsFeed(self.runtime.bus),
            reader=ChainReader(key),
            redis=self.runtime.redis,
            clock=self.clock,
        )

    async def place(
        self, user_id: uuid.UUID, amount: str, auto: str | None = None, *, country: str = "KE"
    ) -> Any:
        return await self.games.place_bet(
            user_id=user_id,
            country=country,
            game_id=self.game_id,
            amount=Decimal(amount),
            auto_cashout=auto,
            idempotency_key=uuid.uuid4().hex,
        )

    async def cash_out(self, user_id: uuid.UUID, bet_id: uuid.UUID) -> Any:
        return await self.games.cash_out(user_id=user_id, bet_id=bet_id)

    async def latest_round(self) -> Any:
        async with self.runtime.db.connect() as conn:
            return (
                await conn.execute(
                    sa.select(crash_rounds)
                    .where(crash_rounds.c.game_id == self.game_id)
                    .order_by(crash_rounds.c.id.desc())
                    .limit(1)
                )
            ).first()

    async def bet(self, bet_id: uuid.UUID) -> Any:
        async with self.runtime.db.connect() as conn:
            return (
                await conn.execute(sa.select(crash_bets).where(crash_bets.c.id == bet_id))
            ).first()


def crash_points_of(seed: bytes, length: int, count: int, salt: str = SALT) -> list[int]:
    """The crash points of games 1..count of the chain from `seed` (play order)."""
    points = CrashPoints(salt)
    return [points.of(walk(seed.hex(), length - n)) for n in range(1, count + 1)]


async def new_game(
    runtime: Runtime,
    clock: ManualClock | None = None,
    *,
    first: Callable[[list[int]], bool] = lambda points: True,
    look_ahead: int = 3,
    length: int = 40,
    every: int = 7,
    **config: Any,
) -> Game:
    """A game on a fresh chain whose first crash points satisfy `first` (seeds are drawn
    until they do), so tests know where rounds crash without reaching into the engine."""
    for _ in range(100_000):
        seed = os.urandom(32)
        points = crash_points_of(seed, length, look_ahead)
        if first(points):
            break
    else:
        raise AssertionError("no chain with the wanted crash points")
    game_id = f"t{uuid.uuid4().hex[:12]}"
    key = derive_key(runtime.settings.crash_chain_secret)
    async with runtime.db.transaction() as conn:
        await store_chain(
            conn, game_id=game_id, chain=generate_chain(seed, length, every=every), key=key
        )
    settings: dict[str, Any] = {"salt": SALT, "edge": 1.0, "max_profit": 10_000_000}
    settings.update(config)
    return Game(
        runtime=runtime,
        config=GameConfig(game_id=game_id, **settings),
        clock=clock or ManualClock(),
        crash_points=crash_points_of(seed, length, look_ahead),
        seed_hex=seed.hex(),
        length=length,
    )


async def funded_players(
    runtime: Runtime, count: int, amount: int = 1_000_00, country: str = "KE"
) -> list[uuid.UUID]:
    currency = get_tenant(country).currency
    async with runtime.db.transaction() as conn:
        users = await create_players(conn, count, country)
        for user_id in users:
            await ledger.post_transfer(
                conn,
                TransferSpec(
                    idempotency_key=f"fund-{user_id}",
                    type="test.fund",
                    country=country,
                    currency=currency,
                    entries=(
                        Entry(House(HouseAccount.ADJUSTMENTS), -amount),
                        Entry(PlayerCash(user_id), amount),
                    ),
                ),
            )
    return users


async def balance(runtime: Runtime, user_id: uuid.UUID, currency: str = "KES") -> int:
    async with runtime.db.connect() as conn:
        return (await ledger.wallet(conn, user_id, currency)).balance


class Frames:
    """Every live frame of a game, from a real NATS subscription."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._subscription: Any = None

    @classmethod
    async def listen(cls, runtime: Runtime, game_id: str) -> Frames:
        frames = cls()
        nc = runtime.bus.nc
        assert nc is not None

        async def on_message(msg: Any) -> None:
            frames.items.append(orjson.loads(msg.data))

        frames._subscription = await nc.subscribe(feed.subject(game_id), cb=on_message)
        await nc.flush()
        return frames

    def types(self) -> list[str]:
        return [f["type"] for f in self.items]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.items if f["type"] == kind]

    async def wait_for(self, kind: str, count: int = 1) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = self.of(kind)
            return found if len(found) >= count else None

        result: list[dict[str, Any]] = await poll_until(enough)
        return result

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()


async def step_until(
    engine: RoundEngine,
    clock: ManualClock,
    status: str,
    *,
    stride: timedelta = timedelta(seconds=1),
    limit: int = 1000,
) -> Any:
    """Step the engine until the latest round has `status`, moving the clock to each due time
    but at least `stride` (a flight needs no 100 ms ticks to be right)."""
    for _ in range(limit):
        due = await engine.step()
        async with engine.db.connect() as conn:
            current = (
                await conn.execute(
                    sa.select(crash_rounds)
                    .where(crash_rounds.c.game_id == engine.game_id)
                    .order_by(crash_rounds.c.id.desc())
                    .limit(1)
                )
            ).first()
        if current is not None and current.status == status:
            return current
        clock.set(max(due, clock() + stride))
    raise AssertionError(f"round never reached {status}")
