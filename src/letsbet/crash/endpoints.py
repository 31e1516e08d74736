"""Fairness and crash-game routes. Thin: parse, call, shape.

GET  /api/fairness/commitment?game_id=        the chain's terminating hash, salt, length, edge
POST /api/fairness/commitment                  {server_seed} -> {server_seed_hash} (the seed's)
POST /api/fairness/verify                      {game_hash, salt, edge?} -> {crash_point}
GET  /api/fairness/rounds/{round_id}           a round's hash and crash point once crashed
GET  /api/games/crash/{game_id}                the current round
GET  /api/games/crash/{game_id}/history        recent crashed rounds
GET  /api/games/crash/{game_id}/leaderboard    biggest wins today
GET  /api/games/crash/rounds/{round_id}/bets   a round's bets (public)
POST /api/games/crash/{game_id}/bets           place a bet (the betting window only)
POST /api/games/crash/bets/{bet_id}/cashout    cash out at the server's multiplier now
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from letsbet.compliance.geo.deps import MoneyLocation
from letsbet.crash import fairness, leaderboard
from letsbet.crash import repository as repo
from letsbet.crash.domain import ChainNotFound, RoundNotFound, RoundStatus, player_alias
from letsbet.crash.games import RoundState, crash_games
from letsbet.crash.schemas import (
    CommitmentOut,
    CrashBetOut,
    FairRoundOut,
    HistoryItem,
    HistoryPage,
    LeaderboardOut,
    PlaceCrashBetIn,
    RoundBetOut,
    RoundBetsOut,
    RoundOut,
    ServerSeedHashOut,
    ServerSeedIn,
    VerifyIn,
    VerifyOut,
    WinOut,
)
from letsbet.crash.service import BetView
from letsbet.platform.http.deps import Conn, CurrentUser, RuntimeDep
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.money import Money, minor_units

fairness_router = APIRouter(prefix="/api/fairness", tags=["crash"])
games_router = APIRouter(prefix="/api/games/crash", tags=["crash"])

GameId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
RoundId = Annotated[int, Path(ge=1, le=2**63 - 1)]
READ = [Depends(rate_limit("read"))]
MONEY = [Depends(rate_limit("money"))]


def _x(hundredths: int | None) -> str | None:
    return None if hundredths is None else fairness.format_multiplier(hundredths)


def _fmt(minor: int | None, currency: str) -> str | None:
    return None if minor is None else Money(minor, currency).format()


# -- fairness ------------------------------------------------------------------------------------
@fairness_router.get("/commitment", response_model=CommitmentOut, dependencies=READ)
async def commitment(
    runtime: RuntimeDep,
    conn: Conn,
    game_id: Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")] = "crash",
) -> CommitmentOut:
    game = crash_games(runtime).game(game_id)
    chain = await repo.latest_chain(conn, game_id)
    if chain is None:
        raise ChainNotFound()
    last = await repo.last_round_of_chain(conn, chain.id)
    return CommitmentOut(
        game_id=game_id,
        terminating_hash=chain.terminating_hash,
        salt=chain.salt or game.salt,
        chain_length=chain.length,
        edge=float(chain.edge) if chain.edge is not None else game.edge,
        rounds_played=last.game_number if last is not None else 0,
    )


@fairness_router.post("/commitment", response_model=ServerSeedHashOut, dependencies=READ)
async def hash_server_seed(body: ServerSeedIn) -> ServerSeedHashOut:
    """The seed's endpoint, kept for compatibility: SHA-256 of a server seed."""
    return ServerSeedHashOut(server_seed_hash=hashlib.sha256(body.server_seed.encode()).hexdigest())


@fairness_router.post("/verify", response_model=VerifyOut, dependencies=READ)
async def verify(body: VerifyIn) -> VerifyOut:
    game_hash = body.game_hash.lower()
    point = fairness.crash_point(game_hash, body.salt, body.edge)
    return VerifyOut(
        game_hash=game_hash,
        salt=body.salt,
        edge=body.edge,
        crash_point=fairness.format_multiplier(point),
    )


@fairness_router.get("/rounds/{round_id}", response_model=FairRoundOut, dependencies=READ)
async def fair_round(round_id: RoundId, conn: Conn) -> FairRoundOut:
    row = await repo.round_by_id(conn, round_id)
    if row is None:
        raise RoundNotFound()
    chain = await repo.chain_by_id(conn, row.chain_id)
    crashed = row.status == RoundStatus.CRASHED
    return FairRoundOut(
        round_id=row.id,
        game_id=row.game_id,
        round_number=row.game_number,
        status=row.status,
        terminating_hash=chain.terminating_hash,
        salt=row.salt,
        edge=float(row.edge),
        game_hash=row.game_hash if crashed else None,
        crash_point=_x(row.crash_point) if crashed else None,
    )


# -- games ---------------------------------------------------------------------------------------
def _round_out(state: RoundState) -> RoundOut:
    return RoundOut(
        game_id=state.game_id,
        round_id=state.round_id,
        round_number=state.round_number,
        status=state.status,
        betting_closes_at=state.betting_closes_at,
        started_at=state.started_at,
        elapsed_ms=state.elapsed_ms,
        current_multiplier=_x(state.multiplier),
        crash_point=_x(state.crash_point),
        game_hash=state.game_hash,
        crashed_at=state.crashed_at,
    )


@games_router.get("/{game_id}", response_model=RoundOut, dependencies=READ)
async def current_round(game_id: GameId, runtime: RuntimeDep) -> RoundOut:
    state = await crash_games(runtime).current_round(game_id)
    if state is None:
        raise RoundNotFound("This game has not played a round yet.")
    return _round_out(state)


@games_router.get("/{game_id}/history", response_model=HistoryPage, dependencies=READ)
async def history(
    game_id: GameId,
    runtime: RuntimeDep,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> HistoryPage:
    crash_games(runtime).game(game_id)
    rows = await repo.history(conn, game_id, limit=limit, before=before)
    items = [
        HistoryItem(
            round_id=row.id,
            round_number=row.game_number,
            crash_point=fairness.format_multiplier(row.crash_point),
            game_hash=row.game_hash,
            started_at=row.started_at,
            crashed_at=row.crashed_at,
            bets=row.bets,
        )
        for row in rows
    ]
    return HistoryPage(items=items, next_before=rows[-1].id if len(rows) == limit else None)


@games_router.get("/{game_id}/leaderboard", response_model=LeaderboardOut, dependencies=READ)
async def biggest_wins(
    game_id: GameId,
    runtime: RuntimeDep,
    currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")] = "KES",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> LeaderboardOut:
    games = crash_games(runtime)
    games.game(game_id)
    minor_units(currency)  # 422 unknown_currency for one letsbet does not handle
    day = games.clock().astimezone(UTC).date()
    wins = await leaderboard.biggest_wins(
        runtime.redis, game_id=game_id, currency=currency, day=day, limit=limit
    )
    return LeaderboardOut(
        game_id=game_id,
        currency=currency,
        day=day,
        items=[
            WinOut(
                player=win["player"],
                amount=Money(win["amount"], currency).format(),
                multiplier=fairness.format_multiplier(win["multiplier"]),
                payout=Money(win["payout"], currency).format(),
                profit=Money(win["payout"] - win["amount"], currency).format(),
                at=datetime.fromisoformat(win["at"]),
            )
            for win in wins
        ],
    )


@games_router.get("/rounds/{round_id}/bets", response_model=RoundBetsOut, dependencies=READ)
async def round_bets(round_id: RoundId, conn: Conn) -> RoundBetsOut:
    row = await repo.round_by_id(conn, round_id)
    if row is None:
        raise RoundNotFound()
    bets = await repo.round_bets(conn, round_id)
    return RoundBetsOut(
        round_id=row.id,
        game_id=row.game_id,
        status=row.status,
        items=[
            RoundBetOut(
                bet_id=bet.id,
                player=player_alias(bet.user_id),
                amount=Money(bet.amount, bet.currency).format(),
                currency=bet.currency,
                status=bet.status,
                cashout_multiplier=_x(bet.cashout_multiplier),
                payout=_fmt(bet.payout, bet.currency),
            )
            for bet in bets
        ],
    )


def _bet_out(bet: BetView) -> CrashBetOut:
    currency = bet.currency
    return CrashBetOut(
        id=bet.id,
        round_id=bet.round_id,
        game_id=bet.game_id,
        status=bet.status,
        currency=currency,
        amount=Money(bet.amount, currency).format(),
        stake_tax=Money(bet.stake_tax, currency).format(),
        auto_cashout=_x(bet.auto_cashout),
        cashout_multiplier=_x(bet.cashout_multiplier),
        cashout_kind=bet.cashout_kind,
        payout=_fmt(bet.payout, currency),
        winnings_tax=_fmt(bet.winnings_tax, currency),
        net_payout=_fmt(bet.net_payout, currency),
        placed_at=bet.placed_at,
        settled_at=bet.settled_at,
        replayed=bet.replayed,
    )


@games_router.post(
    "/{game_id}/bets", status_code=201, response_model=CrashBetOut, dependencies=MONEY
)
async def place_bet(
    game_id: GameId,
    body: PlaceCrashBetIn,
    principal: CurrentUser,
    runtime: RuntimeDep,
    response: Response,
    location: MoneyLocation,
) -> CrashBetOut:
    auto = body.auto_cashout
    bet = await crash_games(runtime).place_bet(
        location=location,
        user_id=principal.user_id,
        country=principal.country,
        game_id=game_id,
        amount=body.amount,
        auto_cashout=str(auto) if auto is not None else None,
        idempotency_key=body.idempotency_key,
    )
    if bet.replayed:
        response.status_code = 200
    return _bet_out(bet)


@games_router.post("/bets/{bet_id}/cashout", response_model=CrashBetOut, dependencies=MONEY)
async def cash_out(bet_id: uuid.UUID, principal: CurrentUser, runtime: RuntimeDep) -> CrashBetOut:
    return _bet_out(await crash_games(runtime).cash_out(user_id=principal.user_id, bet_id=bet_id))
