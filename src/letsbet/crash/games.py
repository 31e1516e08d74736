"""The crash commands a WebSocket handler or a REST route calls: place a bet, cash out, read the
current round. Each command runs in its own transaction (retried on deadlock) and, once it has
committed, is announced on the live feed; the server's clock at receipt is the only authority.

    games = crash_games(runtime)
    bet = await games.place_bet(user_id=…, country="KE", game_id="crash", amount=Decimal("100"),
                                auto_cashout="2.00", idempotency_key="…")
    done = await games.cash_out(user_id=…, bet_id=bet.id)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.geo.domain import Location
from letsbet.crash import feed, leaderboard, service
from letsbet.crash import repository as repo
from letsbet.crash.config import GameConfig, game_configs
from letsbet.crash.curve import multiplier_at
from letsbet.crash.domain import (
    GameNotFound,
    RoundStatus,
    elapsed_ms,
    parse_multiplier,
    player_alias,
)
from letsbet.errors import LetsbetError
from letsbet.platform.db import run_in_transaction
from letsbet.platform.money import to_money
from letsbet.platform.observability import CRASH_BETS, CRASH_BETS_REJECTED, CRASH_STAKES
from letsbet.platform.runtime import Runtime
from letsbet.tenants import get_tenant

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class RoundState:
    """A round as anyone may see it: the crash point and hash only once it has crashed."""

    game_id: str
    round_id: int
    round_number: int
    status: str
    betting_closes_at: datetime
    started_at: datetime | None
    elapsed_ms: int | None
    multiplier: int | None
    crash_point: int | None
    game_hash: str | None
    crashed_at: datetime | None


def round_state(row: repo.Row, now: datetime) -> RoundState:
    crashed = row.status == RoundStatus.CRASHED
    flying = row.status == RoundStatus.FLYING
    elapsed = elapsed_ms(row.started_at, now) if flying else None
    return RoundState(
        game_id=row.game_id,
        round_id=row.id,
        round_number=row.game_number,
        status=row.status,
        betting_closes_at=row.betting_closes_at,
        started_at=row.started_at,
        elapsed_ms=elapsed,
        # A flight the engine has not closed yet still shows no more than the crash point.
        multiplier=min(multiplier_at(elapsed), row.crash_point) if elapsed is not None else None,
        crash_point=row.crash_point if crashed else None,
        game_hash=row.game_hash if crashed else None,
        crashed_at=row.crashed_at,
    )


class CrashGames:
    def __init__(
        self,
        runtime: Runtime,
        *,
        games: Mapping[str, GameConfig] | None = None,
        live: feed.RoundFeed | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.runtime = runtime
        self.games = games  # None: the configured games (CRASH_GAMES)
        self.feed: feed.RoundFeed = live or feed.NatsFeed(runtime.bus)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))

    def game(self, game_id: str) -> GameConfig:
        games = self.games if self.games is not None else game_configs(self.runtime.settings)
        game = games.get(game_id)
        if game is None:
            raise GameNotFound(f"No crash game {game_id!r}.")
        return game

    async def place_bet(
        self,
        *,
        user_id: uuid.UUID,
        country: str,
        game_id: str,
        amount: Decimal,
        auto_cashout: str | None,
        idempotency_key: str,
        location: Location | None = None,
    ) -> service.BetView:
        now = self.clock()
        try:
            game = self.game(game_id)
            tenant = get_tenant(country)
            request = service.BetRequest(
                game=game,
                user_id=user_id,
                tenant=tenant,
                amount=to_money(amount, tenant.currency).minor,
                auto_cashout=None if auto_cashout is None else parse_multiplier(auto_cashout),
                idempotency_key=idempotency_key,
                location=location,
            )
            allowed = self.runtime.settings.allowed_countries

            async def work(conn: AsyncConnection) -> service.BetView:
                return await service.place_bet(conn, request, allowed_countries=allowed, now=now)

            bet = await run_in_transaction(self.runtime.db, work)
        except LetsbetError as exc:
            CRASH_BETS_REJECTED.labels(exc.code).inc()
            raise
        if not bet.replayed:
            CRASH_BETS.labels(game_id, bet.currency).inc()
            CRASH_STAKES.labels(game_id, bet.currency).inc(bet.amount)
            await self.feed.publish(
                game_id,
                feed.bet_placed(
                    game_id,
                    bet.round_id,
                    bet_id=str(bet.id),
                    player=player_alias(user_id),
                    amount=bet.amount,
                    currency=bet.currency,
                ),
            )
        return bet

    async def cash_out(self, *, user_id: uuid.UUID, bet_id: uuid.UUID) -> service.BetView:
        """Cash out at the multiplier of the moment this call arrived."""
        now = self.clock()

        async def work(conn: AsyncConnection) -> service.Cashout:
            return await service.cash_out(conn, user_id=user_id, bet_id=bet_id, now=now)

        try:
            done = await run_in_transaction(self.runtime.db, work)
        except LetsbetError as exc:
            CRASH_BETS_REJECTED.labels(exc.code).inc()
            raise
        settled = done.settled
        if settled is not None:
            player = player_alias(user_id)
            await self.feed.publish(
                done.bet.game_id,
                feed.cashed_out(
                    done.bet.game_id,
                    settled.round_id,
                    bet_id=str(bet_id),
                    player=player,
                    multiplier=settled.multiplier,
                    payout=settled.payout,
                    currency=settled.currency,
                ),
            )
            await leaderboard.record_win(
                self.runtime.redis,
                game_id=done.bet.game_id,
                currency=settled.currency,
                at=now,
                bet_id=str(bet_id),
                player=player,
                amount=settled.amount,
                multiplier=settled.multiplier,
                payout=settled.payout,
            )
        return done.bet

    async def current_round(self, game_id: str) -> RoundState | None:
        self.game(game_id)
        async with self.runtime.db.connect() as conn:
            row = await repo.latest_round(conn, game_id)
        return round_state(row, self.clock()) if row is not None else None


def crash_games(runtime: Runtime) -> CrashGames:
    """The process's crash commands (one per runtime, made on first use)."""
    games = runtime.extras.get("crash_games")
    if not isinstance(games, CrashGames):
        games = runtime.extras["crash_games"] = CrashGames(runtime)
    return games
