"""The built-in simulated odds feed (role `odds`): a week of football fixtures, live play with
Poisson goals, suspensions around goals and results at full time.

Everything it does is a feed message (see `feed`) applied through `apply_message` in its own
transaction, so the catalogue, the outbox, NATS and /ws/odds see exactly what a real feed would
cause. It keeps no state that matters: fixtures and their models follow from (seed, day), the
match clock from kick-off and the clock, the score from the database; a restarted or newly
elected simulator carries on where the last one stopped.

Only one simulator drives fixtures: the leader holds a PostgreSQL advisory lock on a dedicated
connection; the others idle and retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import partial
from statistics import fmean

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.aio import wait_or_stop
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import get_logger
from letsbet.sportsbook.catalogue import repository as repo
from letsbet.sportsbook.catalogue.tables import events
from letsbet.sportsbook.markets import MarketType, settle
from letsbet.sportsbook.odds.feed import (
    BetSettlement,
    BetStop,
    FeedMessage,
    Fixture,
    FixtureChange,
    MarketOdds,
    MarketSettled,
    MarketStatus,
    OddsChange,
    OutcomeSettled,
    apply_message,
)
from letsbet.sportsbook.odds.pricing import (
    MATCH_MINUTES,
    MarginMethod,
    MatchModel,
    live_model,
    overround,
    price_market,
)

log = get_logger(__name__)

SEED = 2024
MARGIN = 0.06
METHOD: MarginMethod = "power"
DAYS = 7
PREFIX = "sim"  # external ids: sim:20250301:0
TICK_SECONDS = 5.0
SPEED = 1.0  # match minutes per minute of the clock
LOCK_KEY = 0x6C65_7473_6F64_6473  # "letsodds": pg_try_advisory_lock's key for the leader
LEADER_RETRY_SECONDS = 5.0
KICKOFF_HOURS = (12, 14, 16, 18, 20)  # UTC
COMPETITIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Kenya", "Premier League", ("Gor Mahia", "AFC Leopards", "Tusker", "Bandari", "Shabana")),
    ("Nigeria", "NPFL", ("Enyimba", "Rivers United", "Kano Pillars", "Remo Stars", "Rangers")),
    ("Ghana", "Premier League", ("Asante Kotoko", "Hearts of Oak", "Medeama", "Aduana", "Dreams")),
    ("England", "Premier League", ("Arsenal", "Chelsea", "Liverpool", "Everton", "Newcastle")),
)
MARKETS: tuple[tuple[MarketType, int | None], ...] = (
    (MarketType.MATCH_RESULT, None),
    (MarketType.DOUBLE_CHANCE, None),
    (MarketType.BTTS, None),
    (MarketType.OVER_UNDER, 250),
    (MarketType.ASIAN_HANDICAP, -25),
)
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class SimFixture:
    fixture: Fixture
    model: MatchModel


def day_fixtures(day: date, *, seed: int = SEED, prefix: str = PREFIX) -> list[SimFixture]:
    """The day's 3-5 fixtures, the same for the same (seed, day) whenever they are made."""
    rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311 - a simulation, not security
    hours = sorted(rng.sample(KICKOFF_HOURS, rng.randint(3, 5)))
    fixtures = []
    for n, hour in enumerate(hours):
        region, competition, teams = rng.choice(COMPETITIONS)
        home, away = rng.sample(teams, 2)
        model = MatchModel(round(rng.uniform(0.9, 2.0), 2), round(rng.uniform(0.6, 1.6), 2))
        fixture = Fixture(
            external_id=f"{prefix}:{day:%Y%m%d}:{n}",
            competition=competition,
            region=region,
            home=home,
            away=away,
            starts_at=datetime.combine(day, time(hour), tzinfo=UTC),
        )
        fixtures.append(SimFixture(fixture, model))
    return fixtures


def settlement(home_goals: int, away_goals: int) -> list[MarketSettled]:
    """bet_settlement for every simulated market from the final score, by markets.settle."""
    return [
        MarketSettled(
            (kind.value, line),
            [
                OutcomeSettled(
                    key,
                    "won" if result.won else "lost",
                    _decimal(result.void_factor),
                    _decimal(result.dead_heat_factor),
                )
                for key, result in settle(kind, line, home_goals, away_goals).items()
            ],
        )
        for kind, line in MARKETS
    ]


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


class Simulator:
    def __init__(
        self,
        *,
        seed: int = SEED,
        margin: float = MARGIN,
        method: MarginMethod = METHOD,
        days: int = DAYS,
        prefix: str = PREFIX,
        speed: float = SPEED,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        lock_key: int = LOCK_KEY,
    ) -> None:
        self.seed, self.margin, self.method = seed, margin, method
        self.days, self.prefix, self.speed = days, prefix, speed
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.rng = rng or random.Random()  # noqa: S311 - a simulation
        self.lock_key = lock_key
        self._models: dict[str, MatchModel] = {}
        self._minutes: dict[str, int] = {}  # the match minute each live event was last played to

    # -- pricing ---------------------------------------------------------------------------------
    def prices(self, model: MatchModel, status: MarketStatus | None = None) -> list[MarketOdds]:
        return [
            MarketOdds(
                kind.value, line, price_market(model, kind, line, self.margin, self.method), status
            )
            for kind, line in MARKETS
        ]

    def model(self, external_id: str) -> MatchModel:
        """The pre-match model of a fixture, regenerated from its day after a restart."""
        if external_id not in self._models:
            with contextlib.suppress(ValueError, IndexError):
                day = datetime.strptime(external_id.split(":")[-2], "%Y%m%d").date()
                for sim in day_fixtures(day, seed=self.seed, prefix=self.prefix):
                    self._models[sim.fixture.external_id] = sim.model
        return self._models.get(external_id, MatchModel(1.4, 1.1))

    # -- fixtures --------------------------------------------------------------------------------
    async def ensure_fixtures(self, db: Database) -> int:
        """Create this week's fixtures that do not exist yet and have not started; how many."""
        now = self.clock()
        created: list[list[MarketOdds]] = []
        for offset in range(self.days):
            day = now.date() + timedelta(days=offset)
            for sim in day_fixtures(day, seed=self.seed, prefix=self.prefix):
                self._models[sim.fixture.external_id] = sim.model
                if sim.fixture.starts_at <= now:
                    continue
                books = self.prices(sim.model)
                if await run_in_transaction(db, partial(_create, sim=sim, books=books)):
                    created.append(books)
        margins = [
            float(overround(list(m.prices.values())))
            for books in created
            for m in books
            if m.type != MarketType.DOUBLE_CHANCE  # not a partition: its book is 2 + 2 * margin
        ]
        log.info(
            "odds.fixtures_created",
            created=len(created),
            margin=self.margin,
            method=self.method,
            overround_mean=round(fmean(margins), 4) if margins else None,
            overround_min=round(min(margins), 4) if margins else None,
            overround_max=round(max(margins), 4) if margins else None,
        )
        return len(created)

    # -- live play -------------------------------------------------------------------------------
    async def tick(self, db: Database) -> None:
        """Kick off fixtures whose time has come and play every live one up to the clock."""
        now = self.clock()
        async with db.connect() as conn:
            due = (
                await conn.execute(
                    sa.select(
                        events.c.external_id,
                        events.c.status,
                        events.c.starts_at,
                        events.c.home_score,
                        events.c.away_score,
                    )
                    .where(
                        events.c.external_id.startswith(f"{self.prefix}:", autoescape=True),
                        events.c.status.in_(("scheduled", "live")),
                        events.c.starts_at <= now,
                    )
                    .order_by(events.c.starts_at, events.c.id)
                )
            ).all()
        for row in due:
            minute = int((now - row.starts_at).total_seconds() * self.speed // 60)
            score = (row.home_score or 0, row.away_score or 0)
            try:
                await self._play(db, row.external_id, row.status, minute, score)
            except Exception:  # one fixture an operator changed must not stop the others
                log.exception("odds.simulator_play_failed", fixture=row.external_id)

    async def _play(
        self, db: Database, external_id: str, status: str, minute: int, score: tuple[int, int]
    ) -> None:
        pre = self.model(external_id)
        if minute >= MATCH_MINUTES:
            await _apply(
                db,
                OddsChange(external_id, status="ended", score=score),
                BetSettlement(external_id, settlement(*score)),
            )
            self._minutes.pop(external_id, None)
            log.info("odds.match_ended", fixture=external_id, score=score)
            return
        if status == "scheduled":
            live = self.prices(live_model(pre, minute, *score), "active")
            await _apply(db, OddsChange(external_id, live, status="live", score=score))
            self._minutes[external_id] = minute
            return
        last = self._minutes.get(external_id, minute)  # after a restart: no goals in the gap
        self._minutes[external_id] = minute
        if minute <= last:
            return
        elapsed = (minute - last) / MATCH_MINUTES
        home = int(self.rng.random() < 1 - math.exp(-pre.home_rate * elapsed))
        away = int(self.rng.random() < 1 - math.exp(-pre.away_rate * elapsed))
        new_score = (score[0] + home, score[1] + away)
        model = live_model(pre, minute, *new_score)
        if home or away:
            # A goal: stop betting at once, then reopen at the new prices.
            await _apply(db, BetStop(external_id))
            await _apply(db, OddsChange(external_id, self.prices(model, "active"), score=new_score))
            log.info("odds.goal", fixture=external_id, minute=minute, score=new_score)
        else:
            await _apply(db, OddsChange(external_id, self.prices(model)))

    # -- the role --------------------------------------------------------------------------------
    async def run(self, db: Database, stop: asyncio.Event) -> None:
        """Lead (hold the advisory lock) and drive the fixtures until `stop`; idle otherwise."""
        lock = AdvisoryLock(db, self.lock_key)
        while not stop.is_set():
            try:
                leading = await lock.acquire()
            except Exception:
                log.exception("odds.leader_lock_failed")
                leading = False
            if leading:
                log.info("odds.simulator_leading", prefix=self.prefix)
                try:
                    await self._lead(db, stop, lock)
                finally:
                    await lock.release()
            await wait_or_stop(stop, LEADER_RETRY_SECONDS)

    async def _lead(self, db: Database, stop: asyncio.Event, lock: AdvisoryLock) -> None:
        fixtures_day: date | None = None
        while not stop.is_set() and await lock.held():
            try:
                if fixtures_day != self.clock().date():
                    await self.ensure_fixtures(db)
                    fixtures_day = self.clock().date()
                await self.tick(db)
            except Exception:
                log.exception("odds.simulator_tick_failed")
            await wait_or_stop(stop, TICK_SECONDS)


async def _create(conn: AsyncConnection, sim: SimFixture, books: Sequence[MarketOdds]) -> bool:
    external_id = sim.fixture.external_id
    if await repo.event_by_external_id(conn, external_id) is not None:
        return False
    await apply_message(conn, FixtureChange(external_id, fixture=sim.fixture))
    await apply_message(conn, OddsChange(external_id, books))
    return True


async def _apply(db: Database, *messages: FeedMessage) -> None:
    async def work(conn: AsyncConnection) -> None:
        for message in messages:
            await apply_message(conn, message)

    await run_in_transaction(db, work)


class AdvisoryLock:
    """A session-level PostgreSQL advisory lock held on a dedicated connection: the holder is
    the leader until it releases the lock or its connection dies."""

    def __init__(self, db: Database, key: int = LOCK_KEY) -> None:
        self.db, self.key = db, key
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = await self.db.engine.connect()
        try:
            got = bool(await conn.scalar(sa.select(sa.func.pg_try_advisory_lock(self.key))))
            await conn.commit()  # the lock outlives the transaction; an open one would pin xmin
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            await self._conn.execute(sa.select(1))
            await self._conn.commit()
        except Exception:
            log.exception("odds.leader_connection_lost")
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.execute(sa.select(sa.func.pg_advisory_unlock(self.key)))
            await self._conn.commit()
            await self._conn.close()
        except Exception:
            await self._drop()
        self._conn = None

    async def _drop(self) -> None:
        # A broken or unknown session must not go back to the pool still holding the lock.
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.invalidate()
                await self._conn.close()
        self._conn = None
