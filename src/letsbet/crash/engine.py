"""The round loop of one crash game (role `games`): betting window -> flight -> crash -> cooldown.

`RoundEngine.step()` does whatever is due at the clock's time and says when it is next due;
`GameRunner` calls it while holding the game's leader lock. Everything a round needs is in its
row, fixed when it is created (link, game hash, crash point) or takes off (start time, cap), so
a newly elected leader simply steps on: a round in flight when the old leader died is flown to
its known crash point, and every settlement is a compare-and-set, so nothing settles twice even
if two engines act at once. The clock is injected: tests drive time explicitly.

Per step in flight, in one transaction: raise the max-profit cap if cash-outs made room, cash
out every bet whose auto-cash-out target (or the cap) the curve has passed, in ascending order
and at its target, then, at the crash time, settle every bet still riding as lost and reveal the
hash. Frames are published after the commit.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.crash import feed, leaderboard
from letsbet.crash import repository as repo
from letsbet.crash.chains import ChainBroken, ChainExhausted, ChainKeyMismatch, ChainReader
from letsbet.crash.config import GameConfig, game_configs
from letsbet.crash.curve import multiplier_at
from letsbet.crash.domain import (
    Exposure,
    Flight,
    Riding,
    RoundStatus,
    cap_multiplier,
    due_cashouts,
    elapsed_ms,
    next_due_ms,
    player_alias,
)
from letsbet.crash.fairness import crash_point, derive_key, previous_link
from letsbet.crash.leader import game_lock
from letsbet.crash.settlement import CashedOut, cash_out, settle_losses
from letsbet.platform.aio import wait_or_stop
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.leader import lead_while_held
from letsbet.platform.observability import CRASH_LEADER, CRASH_ROUNDS, CRASH_RTP, get_logger
from letsbet.platform.runtime import Runtime

log = get_logger(__name__)

Clock = Callable[[], datetime]
Row = repo.Row
IDLE = timedelta(seconds=5)  # no chain or salt yet: look again later
_RACED = object()  # another engine opened the round first
RTP_ROUNDS = 1000
LEADER_RETRY_SECONDS = 2.0


@dataclass(slots=True)
class _FlightStep:
    flight: Flight
    cashed: list[CashedOut]
    riding: list[Riding]
    crashed_at: datetime | None = None
    crashed_here: bool = False  # False when another engine recorded the crash first


def _edge(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


class RoundEngine:
    def __init__(
        self,
        db: Database,
        game: GameConfig,
        *,
        feed: feed.RoundFeed,
        reader: ChainReader,
        redis: aioredis.Redis | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db, self.game, self.feed, self.reader, self.redis = db, game, feed, reader, redis
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self._warned: str | None = None

    @property
    def game_id(self) -> str:
        return self.game.game_id

    async def step(self) -> datetime:
        """Do what is due now; returns when the next step is due."""
        now = self.clock()
        async with self.db.connect() as conn:
            current = await repo.latest_round(conn, self.game_id)
        if current is None or (
            current.status == RoundStatus.CRASHED and now >= current.crashed_at + self.game.cooldown
        ):
            return await self._open(now)
        if current.status == RoundStatus.CRASHED:
            return current.crashed_at + self.game.cooldown  # type: ignore[no-any-return]
        if current.status == RoundStatus.BETTING:
            if now < current.betting_closes_at:
                return current.betting_closes_at  # type: ignore[no-any-return]
            current = await self._take_off(current, now)
        return await self._fly(current, now)

    # -- betting window ----------------------------------------------------------------------
    async def _open(self, now: datetime) -> datetime:
        """Open the next round on the next link of the game's chain; when to step next."""
        try:
            row = await run_in_transaction(self.db, lambda conn: self._create_round(conn, now))
        except (ChainExhausted, ChainKeyMismatch, ChainBroken) as exc:
            self._warn(type(exc).__name__, str(exc))
            return now + IDLE
        if row is _RACED:
            return now  # another engine opened it meanwhile: step on with that round
        if row is None:
            return now + IDLE
        self._warned = None
        await self.feed.publish(
            self.game_id, feed.round_starting(self.game_id, row.id, row.betting_closes_at)
        )
        log.debug("crash.round_opened", game_id=self.game_id, round_id=row.id)
        closes: datetime = row.betting_closes_at
        return closes

    async def _create_round(self, conn: AsyncConnection, now: datetime) -> Row:
        """The new round's row, None when there is nothing to play, or _RACED."""
        game = self.game
        if game.salt is None:
            self._warn("no_salt", "set CRASH_SALT (or id:salt in CRASH_GAMES) to play")
            return None
        await repo.lock_game(conn, game.game_id)
        latest = await repo.latest_round(conn, game.game_id)
        if latest is not None and (
            latest.status != RoundStatus.CRASHED or now < latest.crashed_at + game.cooldown
        ):
            return _RACED
        chain = await repo.latest_chain(conn, game.game_id)
        if chain is None:
            self._warn("no_chain", "run `letsbet fairness new-chain --game ID` first")
            return None
        chain = await repo.pin_chain(conn, chain.id, salt=game.salt, edge=_edge(game.edge))
        if chain.salt != game.salt or chain.edge != _edge(game.edge):
            # Changing either would change every crash point already committed to.
            self._warn("salt_changed", "the chain's salt and edge are fixed; make a new chain")
            return None
        last = await repo.last_round_of_chain(conn, chain.id)
        number = last.game_number + 1 if last is not None else 1
        game_hash = await self.reader.link(conn, chain, number)
        expected = last.game_hash if last is not None else chain.terminating_hash
        if previous_link(game_hash) != expected:
            raise ChainBroken(f"link {number} of chain {chain.id} does not hash to link before")
        round_id = await repo.insert_round(
            conn,
            game_id=game.game_id,
            chain_id=chain.id,
            game_number=number,
            status=RoundStatus.BETTING.value,
            salt=chain.salt,
            edge=chain.edge,
            game_hash=game_hash,
            crash_point=crash_point(game_hash, chain.salt, float(chain.edge)),
            betting_opens_at=now,
            betting_closes_at=now + game.betting_window,
        )
        return await repo.round_by_id(conn, round_id) if round_id is not None else _RACED

    def _warn(self, reason: str, hint: str) -> None:
        if self._warned != reason:  # once per cause, not every few seconds
            log.warning("crash.not_playing", game_id=self.game_id, reason=reason, hint=hint)
            self._warned = reason

    # -- take-off ----------------------------------------------------------------------------
    async def _take_off(self, current: Row, now: datetime) -> Row:
        took_off = False

        async def work(conn: AsyncConnection) -> Row:
            nonlocal took_off
            # Update first: it waits for bets still committing (they hold the row FOR SHARE),
            # so the cap computed next sees every bet of the round.
            took_off = await repo.take_off(conn, current.id, started_at=now)
            if took_off:
                await repo.set_cap(conn, current.id, await self._cap(conn, current.id))
            return await repo.round_by_id(conn, current.id)

        row = await run_in_transaction(self.db, work)
        if took_off:
            await self.feed.publish(
                self.game_id, feed.round_started(self.game_id, row.id, row.started_at)
            )
        return row

    async def _cap(self, conn: AsyncConnection, round_id: int) -> int | None:
        rows = await repo.exposures(conn, round_id)
        exposures = [
            Exposure(
                currency=row.currency,
                amount=row.amount,
                auto=row.auto_cashout,
                settled_profit=(None if row.status == "active" else (row.payout or 0) - row.amount),
            )
            for row in rows
            if row.status != "lost"
        ]
        caps = {e.currency: self.game.profit_cap(e.currency) for e in exposures}
        return cap_multiplier(exposures, caps)

    # -- flight ------------------------------------------------------------------------------
    async def _fly(self, current: Row, now: datetime) -> datetime:
        elapsed = elapsed_ms(current.started_at, now)
        outcome = await run_in_transaction(
            self.db, lambda conn: self._fly_step(conn, current, elapsed, now)
        )
        for cashed in outcome.cashed:
            await self._announce_cashout(cashed, now)
        flight = outcome.flight
        if outcome.crashed_at is not None:
            if outcome.crashed_here:
                await self.feed.publish(
                    self.game_id,
                    feed.crashed(
                        self.game_id,
                        current.id,
                        crash_point=current.crash_point,
                        game_hash=current.game_hash,
                        elapsed_ms=flight.crash_ms,
                    ),
                )
                CRASH_ROUNDS.labels(self.game_id).inc()
                await self._update_rtp()
            return outcome.crashed_at + self.game.cooldown
        await self.feed.publish(
            self.game_id, feed.tick(self.game_id, current.id, elapsed, multiplier_at(elapsed))
        )
        started: datetime = current.started_at
        # Ticks on a fixed grid from take-off, so the time a step takes does not add up.
        tick_ms = self.game.tick // timedelta(milliseconds=1)
        next_tick = (elapsed // tick_ms + 1) * tick_ms
        due = min(next_tick, next_due_ms(outcome.riding, elapsed, flight))
        return started + timedelta(milliseconds=due)

    async def _fly_step(
        self, conn: AsyncConnection, current: Row, elapsed: int, now: datetime
    ) -> _FlightStep:
        flight = Flight(crash_point=current.crash_point, cap=current.cap_multiplier)
        if flight.cap is not None:
            # Cash-outs since the last step may have made room under the cap.
            cap = await self._cap(conn, current.id)
            if cap is None or cap > flight.cap:
                await repo.raise_cap(conn, current.id, cap)
                flight = Flight(crash_point=flight.crash_point, cap=cap)
        riding = [Riding(row.id, row.auto_cashout) for row in await repo.riding(conn, current.id)]
        cashed: list[CashedOut] = []
        for bet, multiplier, kind in due_cashouts(riding, elapsed, flight):
            assert isinstance(bet.key, uuid.UUID)
            done = await cash_out(
                conn,
                bet.key,
                round_id=current.id,
                game_id=self.game_id,
                multiplier=multiplier,
                kind=kind,
                now=now,
            )
            if done is not None:
                cashed.append(done)
        settled = {c.bet_id for c in cashed}
        step = _FlightStep(
            flight=flight,
            cashed=cashed,
            riding=[bet for bet in riding if bet.key not in settled],
        )
        if elapsed >= flight.crash_ms:
            # The crash instant follows from the curve, not from when this step ran.
            step.crashed_at = current.started_at + timedelta(milliseconds=flight.crash_ms)
            lost = await settle_losses(conn, current.id, now=step.crashed_at)
            step.crashed_here = await repo.crash(conn, current.id, crashed_at=step.crashed_at)
            if step.crashed_here:
                await record(
                    conn,
                    Event(
                        "crash.round.crashed",
                        {
                            "round_id": current.id,
                            "game_id": self.game_id,
                            "round_number": current.game_number,
                            "crash_point": current.crash_point,
                            "game_hash": current.game_hash,
                            "crashed_at": step.crashed_at.isoformat(),
                            "bets_lost": len(lost),
                        },
                    ),
                )
        return step

    async def _announce_cashout(self, cashed: CashedOut, now: datetime) -> None:
        player = player_alias(cashed.user_id)
        await self.feed.publish(
            self.game_id,
            feed.cashed_out(
                self.game_id,
                cashed.round_id,
                bet_id=str(cashed.bet_id),
                player=player,
                multiplier=cashed.multiplier,
                payout=cashed.payout,
                currency=cashed.currency,
            ),
        )
        await self.feed.publish_private(
            self.game_id,
            cashed.user_id,
            feed.cashout_confirmed(
                self.game_id,
                cashed.round_id,
                bet_id=str(cashed.bet_id),
                multiplier=cashed.multiplier,
                payout=cashed.payout,
                net_payout=cashed.net_payout,
                currency=cashed.currency,
                kind=cashed.kind.value,
            ),
        )
        if self.redis is not None:
            await leaderboard.record_win(
                self.redis,
                game_id=self.game_id,
                currency=cashed.currency,
                at=now,
                bet_id=str(cashed.bet_id),
                player=player,
                amount=cashed.amount,
                multiplier=cashed.multiplier,
                payout=cashed.payout,
            )

    async def _update_rtp(self) -> None:
        try:
            async with self.db.connect() as conn:
                rows = await repo.returns_by_currency(conn, self.game_id, rounds=RTP_ROUNDS)
        except Exception:  # a metric must not stop the game
            log.exception("crash.rtp_failed", game_id=self.game_id)
            return
        for row in rows:
            if row.stakes:
                CRASH_RTP.labels(self.game_id, row.currency).set(
                    float(row.payouts or 0) / float(row.stakes)
                )


class GameRunner:
    """Leads one game when it holds the game's lock; idles and retries otherwise."""

    def __init__(self, engine: RoundEngine) -> None:
        self.engine = engine
        self.lock = game_lock(engine.db, engine.game_id)

    async def run(self, stop: asyncio.Event) -> None:
        game_id = self.engine.game_id

        def leading(now: bool) -> None:
            if now:
                log.info("crash.leading", game_id=game_id)
            CRASH_LEADER.labels(game_id).set(1 if now else 0)

        await lead_while_held(
            self.lock,
            stop,
            lambda: self._lead(stop),
            name=f"crash:{game_id}",
            retry_seconds=LEADER_RETRY_SECONDS,
            on_change=leading,
        )

    async def _lead(self, stop: asyncio.Event) -> None:
        engine = self.engine
        while not stop.is_set() and await self.lock.held():
            try:
                due = await engine.step()
            except Exception:
                log.exception("crash.step_failed", game_id=engine.game_id)
                due = engine.clock() + timedelta(seconds=1)
            delay = (due - engine.clock()).total_seconds()
            await wait_or_stop(stop, min(max(delay, 0.0), 1.0))


async def run_games(runtime: Runtime, stop: asyncio.Event) -> None:
    """Role `games`: a runner per configured game, each leading its game while it holds the
    game's lock, so replicas share the games and a standby takes over from a dead leader."""
    settings = runtime.settings
    key = derive_key(settings.crash_chain_secret)
    live = feed.NatsFeed(runtime.bus)
    runners = [
        GameRunner(
            RoundEngine(runtime.db, game, feed=live, reader=ChainReader(key), redis=runtime.redis)
        )
        for game in game_configs(settings).values()
    ]
    await asyncio.gather(stop.wait(), *(runner.run(stop) for runner in runners))
