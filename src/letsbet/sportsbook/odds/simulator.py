"""The built-in simulated odds feed (role `odds`): a week of football, basketball and tennis
fixtures across Kenya, Nigeria, Ghana and international competitions, live play, suspensions
around goals, breaks of serve and period ends, and results at the end.

Everything it does is a feed message (see `feed`) applied through `apply_message` in its own
transaction, so the catalogue, the outbox, NATS and /ws/odds see exactly what a real feed would
cause. Each sport's model and play are in `odds.sports`. It keeps no state that matters:
fixtures and their models follow from (seed, day), the match clock from kick-off and the clock,
the score from the database; a restarted or newly elected simulator carries on where the last
one stopped (see `Sport.resume` for what a restart loses).

Books carry the configured margin (ODDS_MARGIN, by ODDS_MARGIN_METHOD); the overround of every
week's pre-match books is logged (odds.fixtures_created) and exported per sport
(letsbet_odds_overround).

Only one simulator drives fixtures: the leader holds the platform's advisory lock
(platform/leader.py); the others idle and retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import partial
from statistics import fmean
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.aio import wait_or_stop
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.leader import AdvisoryLock, lead_while_held
from letsbet.platform.observability import ODDS_OVERROUND, get_logger
from letsbet.sportsbook.catalogue import repository as repo
from letsbet.sportsbook.catalogue.tables import events
from letsbet.sportsbook.markets import MarketType
from letsbet.sportsbook.odds.feed import (
    BetSettlement,
    BetStop,
    FeedMessage,
    Fixture,
    FixtureChange,
    MarketOdds,
    MarketSettled,
    OddsChange,
    OutcomeSettled,
    apply_message,
)
from letsbet.sportsbook.odds.play import MarketStatus, Play
from letsbet.sportsbook.odds.pricing import MarginMethod, overround
from letsbet.sportsbook.odds.sports import SPORTS, Book, Results, Sport, market_status

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
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class SimFixture:
    fixture: Fixture
    model: Any  # the sport's pre-match model

    @property
    def sport(self) -> Sport[Any, Any]:
        return SPORTS[self.fixture.sport_id]


def day_fixtures(day: date, *, seed: int = SEED, prefix: str = PREFIX) -> list[SimFixture]:
    """The day's 10-20 fixtures across sports in kick-off order, the same for the same
    (seed, day) whenever they are made."""
    rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311 - a simulation, not security
    drawn = [(p, sport.id) for sport in SPORTS.values() for p in sport.pairings(rng)]
    drawn.sort(key=lambda pair: pair[0].minute)  # stable: sports keep their order at a time
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [
        SimFixture(
            Fixture(
                external_id=f"{prefix}:{day:%Y%m%d}:{n}",
                competition=pairing.competition,
                region=pairing.region,
                home=pairing.home,
                away=pairing.away,
                starts_at=midnight + timedelta(minutes=pairing.minute),
                sport_id=sport_id,
            ),
            pairing.model,
        )
        for n, (pairing, sport_id) in enumerate(drawn)
    ]


def settlement(results: Results) -> list[MarketSettled]:
    """bet_settlement for every market of a finished match, from its sport's results."""
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
                for key, result in outcomes.items()
            ],
        )
        for (kind, line), outcomes in results.items()
    ]


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _odds(books: Sequence[Book], status: MarketStatus | None) -> list[MarketOdds]:
    return [
        MarketOdds(book.type.value, book.line, book.prices, market_status(book, status))
        for book in books
    ]


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
        self._fixtures: dict[str, SimFixture] = {}
        self._states: dict[str, Any] = {}  # external id -> the sport's state of play

    # -- pricing ---------------------------------------------------------------------------------
    def books(self, sim: SimFixture, state: Any) -> list[Book]:
        return sim.sport.books(sim.model, state, self.margin, self.method)

    def fixture(self, external_id: str, sport_id: str = "football") -> SimFixture | None:
        """A fixture with its pre-match model, regenerated from its day after a restart; for an
        event the simulator did not make, the sport's default model."""
        if external_id not in self._fixtures:
            with contextlib.suppress(ValueError, IndexError):
                day = datetime.strptime(external_id.split(":")[-2], "%Y%m%d").date()
                for sim in day_fixtures(day, seed=self.seed, prefix=self.prefix):
                    self._fixtures[sim.fixture.external_id] = sim
        found = self._fixtures.get(external_id)
        if found is not None and found.fixture.sport_id == sport_id:
            return found
        sport = SPORTS.get(sport_id)
        if sport is None:
            return None
        fixture = Fixture(external_id, "", "", "", "", datetime.min, sport_id)
        return SimFixture(fixture, sport.default_model())

    # -- fixtures --------------------------------------------------------------------------------
    async def ensure_fixtures(self, db: Database) -> int:
        """Create this week's fixtures that do not exist yet and have not started; how many.
        Reports the overround of every upcoming fixture's pre-match books, by sport."""
        now = self.clock()
        created = 0
        margins: dict[str, list[float]] = defaultdict(list)
        for offset in range(self.days):
            day = now.date() + timedelta(days=offset)
            for sim in day_fixtures(day, seed=self.seed, prefix=self.prefix):
                self._fixtures[sim.fixture.external_id] = sim
                if sim.fixture.starts_at <= now:
                    continue
                books = self.books(sim, sim.sport.start(sim.model, 0))
                margins[sim.fixture.sport_id].extend(
                    float(overround(list(book.prices.values())))
                    for book in books
                    if book.type != MarketType.DOUBLE_CHANCE  # not a partition: 2 + 2 * margin
                )
                if await run_in_transaction(db, partial(_create, sim=sim, books=books)):
                    created += 1
        for sport_id, values in margins.items():
            ODDS_OVERROUND.labels(sport=sport_id).set(fmean(values))
        log.info(
            "odds.fixtures_created",
            created=created,
            margin=self.margin,
            method=self.method,
            overround={
                sport_id: {
                    "mean": round(fmean(values), 4),
                    "min": round(min(values), 4),
                    "max": round(max(values), 4),
                }
                for sport_id, values in margins.items()
            },
        )
        return created

    # -- live play -------------------------------------------------------------------------------
    async def tick(self, db: Database) -> None:
        """Kick off fixtures whose time has come and play every live one up to the clock."""
        now = self.clock()
        async with db.connect() as conn:
            due = (
                await conn.execute(
                    sa.select(
                        events.c.external_id,
                        events.c.sport_id,
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
            sim = self.fixture(row.external_id, row.sport_id)
            if sim is None:
                continue  # a sport the simulator does not play
            try:
                await self._play(db, sim, row.external_id, row.status, minute, score)
            except Exception:  # one fixture an operator changed must not stop the others
                log.exception("odds.simulator_play_failed", fixture=row.external_id)

    async def _play(
        self,
        db: Database,
        sim: SimFixture,
        external_id: str,
        status: str,
        minute: int,
        score: tuple[int, int],
    ) -> None:
        sport = sim.sport
        state = self._states.get(external_id)
        if status == "scheduled":
            state = sport.start(sim.model, minute)
            live = _odds(self.books(sim, state), "active")
            await _apply(db, OddsChange(external_id, live, status="live", score=sport.score(state)))
        elif state is None:
            # Taking over a match in play (a restart, a new leader): republish its prices from
            # the rebuilt state; what the state cannot price stays suspended.
            state = sport.resume(sim.model, minute, score)
            await _apply(db, OddsChange(external_id, _odds(self.books(sim, state), None)))
        self._states[external_id] = state
        for play in sport.advance(sim.model, state, minute, self.rng):
            await self._publish(db, sim, external_id, play, sport.score(state))
            state = self._states[external_id] = play.state
            if play.ended:
                del self._states[external_id]

    async def _publish(
        self,
        db: Database,
        sim: SimFixture,
        external_id: str,
        play: Play[Any],
        score_before: tuple[int, int],
    ) -> None:
        sport = sim.sport
        score = sport.score(play.state)
        if play.ended:
            await _apply(
                db,
                OddsChange(external_id, status="ended", score=score),
                BetSettlement(external_id, settlement(sport.results(sim.model, play.state))),
            )
            log.info("odds.match_ended", fixture=external_id, sport=sport.id, score=score)
            return
        if play.stop:  # stop betting at once, then publish the new prices
            await _apply(db, BetStop(external_id))
            log.info("odds.bet_stop", fixture=external_id, sport=sport.id, score=score)
        books = _odds(self.books(sim, play.state), play.status)
        changed = score if score != score_before else None
        await _apply(db, OddsChange(external_id, books, score=changed))

    # -- the role --------------------------------------------------------------------------------
    async def run(self, db: Database, stop: asyncio.Event) -> None:
        """Lead (hold the advisory lock) and drive the fixtures until `stop`; idle otherwise."""
        lock = AdvisoryLock(db, self.lock_key)

        def leading(now: bool) -> None:
            if now:
                log.info("odds.simulator_leading", prefix=self.prefix)

        await lead_while_held(
            lock,
            stop,
            lambda: self._lead(db, stop, lock),
            name="odds-simulator",
            retry_seconds=LEADER_RETRY_SECONDS,
            on_change=leading,
        )

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


async def _create(conn: AsyncConnection, sim: SimFixture, books: Sequence[Book]) -> bool:
    external_id = sim.fixture.external_id
    if await repo.event_by_external_id(conn, external_id) is not None:
        return False
    await apply_message(conn, FixtureChange(external_id, fixture=sim.fixture))
    await apply_message(conn, OddsChange(external_id, _odds(books, None)))
    return True


async def _apply(db: Database, *messages: FeedMessage) -> None:
    async def work(conn: AsyncConnection) -> None:
        for message in messages:
            await apply_message(conn, message)

    await run_in_transaction(db, work)
