"""WebSocket /ws/games/{game_id}: a crash game live, to watch and to play (see docs/api.md).

Anyone may watch; placing a bet or cashing out needs a player: a JWT access token as query
parameter `token` (for clients that cannot send a first message) or, better, as a message
{"action": "auth", "token"} at any time (the token then stays out of proxy logs). Token checks
and close codes are the shared platform/http/socket_auth.py's, as on /ws/bets.

On connect the socket gets `round_state` (then `authenticated` and `balance` for a player),
then every round frame of the game as the engine publishes it (hub.py), and the replies to its
own commands. Commands are answered on the socket that sent them: `bet_confirmed` /
`bet_rejected` / `cashout_confirmed`, each followed by `balance` after money moved; the
engine's auto and cap cash-outs reach every socket of the player on the game, on any replica.

Close codes: 4404 game_not_found; 4401 invalid_token | token_expired | token_revoked;
4403 user_mismatch; 4429 too_many_sockets; 1013 rate_limited (connections per IP) or too slow
(hub.WRITE_BUFFER bytes unread, or hub.QUEUE_SIZE frames behind on the send_text fallback; a
client that does not read its close frame within CLOSE_SECONDS is dropped); 1001 on shutdown.
"""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, WebSocket

from letsbet.accounts.tokens import Principal
from letsbet.compliance.geo.deps import location_of
from letsbet.crash import protocol
from letsbet.crash.games import CrashGames, crash_games
from letsbet.crash.hub import EXPIRED, CrashHub, Seat
from letsbet.crash.snapshot import SharedReads, read_state
from letsbet.crash.wire import raw_socket
from letsbet.errors import LetsbetError
from letsbet.ledger import service as ledger
from letsbet.platform.http.socket_auth import (
    TOO_MANY,
    TRY_AGAIN_LATER,
    UNAUTHORIZED,
    Auth,
    Closed,
    Gone,
    Session,
    close,
    limit_connection,
    reauthenticate,
    verify,
)
from letsbet.platform.observability import CRASH_SOCKETS, get_logger
from letsbet.platform.runtime import Runtime
from letsbet.tenants import get_tenant

log = get_logger(__name__)

router = APIRouter(tags=["crash"])

GAME_NOT_FOUND = 4404
MAX_SOCKETS = 10  # per player and replica: tabs and devices
MESSAGES_PER_SECOND = 5.0  # per socket, after a burst: a player clicks, a bot floods
BURST = 10
CLOSE_SECONDS = 10.0  # a socket cut off as too slow gets this long to take its close frame


class Live:
    """The process's crash fan-out: the hub and the shared state reads (one per runtime)."""

    def __init__(self, runtime: Runtime, games: CrashGames) -> None:
        self.hub = CrashHub(runtime.bus, balances=lambda user, cur: balance(runtime, user, cur))
        self.states = SharedReads(lambda game_id: read_state(games, game_id))


def crash_live(runtime: Runtime) -> Live:
    live = runtime.extras.get("crash_live")
    if not isinstance(live, Live):
        live = runtime.extras["crash_live"] = Live(runtime, crash_games(runtime))
    return live


async def balance(runtime: Runtime, user_id: uuid.UUID, currency: str) -> str:
    async with runtime.db.connect() as conn:
        wallet = await ledger.wallet(conn, user_id, currency)
    return protocol.balance(currency, wallet.available)


@router.websocket("/ws/games/{game_id}")
async def game_socket(websocket: WebSocket, game_id: str) -> None:
    runtime: Runtime = websocket.app.state.runtime
    games = crash_games(runtime)
    await websocket.accept()
    async with runtime.websockets.track(websocket):
        live = crash_live(runtime)
        try:
            try:
                games.game(game_id)
            except LetsbetError:
                raise Closed(GAME_NOT_FOUND, "game_not_found") from None
            await limit_connection(websocket, runtime)
            token = websocket.query_params.get("token")
            principal = await verify(runtime, token) if token else None
            if principal is not None and live.hub.sockets(principal.user_id) >= MAX_SOCKETS:
                raise Closed(TOO_MANY, "too_many_sockets")
        except Closed as closed:
            await close(websocket, closed)
            return
        except Gone:
            return
        await live.hub.start()  # False while NATS is down: frames resume with the next socket
        seat = live.hub.join(game_id)
        socket = GameSocket(websocket, runtime, games, live, seat)
        CRASH_SOCKETS.inc()
        try:
            await socket.serve(principal)
        finally:
            CRASH_SOCKETS.dec()
            socket.forget()


class GameSocket:
    """One connection: its seat in the hub, its player once known, its command budget."""

    def __init__(
        self, websocket: WebSocket, runtime: Runtime, games: CrashGames, live: Live, seat: Seat
    ) -> None:
        self.websocket, self.runtime, self.games, self.live, self.seat = (
            websocket,
            runtime,
            games,
            live,
            seat,
        )
        self.loop = asyncio.get_running_loop()
        self.session: Session | None = None
        self.budget = protocol.Budget(MESSAGES_PER_SECOND, BURST, self.loop.time())
        self._expiry: asyncio.TimerHandle | None = None

    async def serve(self, principal: Principal | None) -> None:
        try:
            first = [await self.live.states.get(self.seat.game_id)]
            if principal is not None:
                first += await self._sign_in(principal)
            for frame in first:  # before anything queued: the writer starts after
                await self.websocket.send_text(frame)
            self.seat.stream(raw_socket(self.websocket))  # then the frames that came meanwhile
        except Gone:
            return
        except Exception as exc:
            log.warning("crash_ws.state_failed", game_id=self.seat.game_id, error=repr(exc))
            await close(self.websocket, Closed(TRY_AGAIN_LATER, "unavailable"))
            return
        tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._write())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                closed = None if task.cancelled() else task.exception()
                if isinstance(closed, Closed):
                    await close(self.websocket, closed)
        finally:
            for task in tasks:
                task.cancel()
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, Exception) and not isinstance(outcome, (Closed, *Gone)):
                    log.warning("crash_ws.failed", error=repr(outcome))

    def forget(self) -> None:
        self.live.hub.leave(self.seat)
        if self._expiry is not None:
            self._expiry.cancel()

    # -- reading -----------------------------------------------------------------------------
    async def _read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            if self.budget.take(self.loop.time()):
                replies = await self._answer(protocol.parse(raw))
            else:
                replies = [protocol.RATE_LIMITED]
            for reply in replies:
                if not self.seat.offer(reply):
                    return  # cut off: the writer closes the socket

    async def _answer(self, message: protocol.Message | str) -> list[str]:
        match message:
            case str():
                return [message]
            case protocol.Ping():
                return [protocol.PONG]
            case Auth(token=token):
                return await self._auth(token)
            case protocol.PlaceBet() | protocol.Cashout() if not self._signed_in():
                return [protocol.UNAUTHENTICATED]
            case protocol.PlaceBet():
                return await self._place_bet(message)
            case protocol.Cashout(bet_id=bet_id):
                return await self._cash_out(bet_id)
        return []  # pragma: no cover  (every message type is matched above)

    def _signed_in(self) -> bool:
        return self.session is not None and self.session.seconds_left() > 0

    async def _auth(self, token: str) -> list[str]:
        if self.session is None:
            principal = await verify(self.runtime, token)  # a bad token closes, as on /ws/bets
            if self.live.hub.sockets(principal.user_id) >= MAX_SOCKETS:
                raise Closed(TOO_MANY, "too_many_sockets")
            return await self._sign_in(principal)
        result = await reauthenticate(self.runtime, self.session, token)
        if isinstance(result, str):
            return [protocol.error(result, "This token cannot extend the session.")]
        self._arm_expiry()
        return [protocol.authenticated(result)]

    async def _sign_in(self, principal: Principal) -> list[str]:
        self.session = Session(principal)
        self.live.hub.identify(self.seat, principal.user_id)
        self._arm_expiry()
        return [protocol.authenticated(principal), *await self._balance()]

    def _arm_expiry(self) -> None:
        assert self.session is not None
        if self._expiry is not None:
            self._expiry.cancel()
        delay = max(0.0, self.session.seconds_left())
        self._expiry = self.loop.call_later(delay, self.seat.offer, EXPIRED)

    async def _balance(self, currency: str | None = None) -> list[str]:
        assert self.session is not None
        currency = currency or get_tenant(self.session.country).currency
        try:
            return [await balance(self.runtime, self.session.user_id, currency)]
        except Exception as exc:  # a courtesy: the wallet API is the record
            log.debug("crash_ws.balance_failed", error=type(exc).__name__)
            return []

    async def _place_bet(self, message: protocol.PlaceBet) -> list[str]:
        assert self.session is not None
        key = message.idempotency_key
        auto = message.auto_cashout
        try:
            bet = await self.games.place_bet(
                user_id=self.session.user_id,
                country=self.session.country,
                game_id=self.seat.game_id,
                amount=message.amount,
                auto_cashout=None if auto is None else str(auto),
                idempotency_key=key,
                location=location_of(self.websocket),  # the socket's peer and headers
            )
        except LetsbetError as exc:
            return [protocol.bet_rejected("place_bet", exc.code, exc.message, idempotency_key=key)]
        except Exception:
            log.exception("crash_ws.place_bet_failed", game_id=self.seat.game_id)
            return [_unavailable("place_bet", idempotency_key=key)]
        return [protocol.bet_confirmed(bet, key), *await self._balance(bet.currency)]

    async def _cash_out(self, bet_id: uuid.UUID) -> list[str]:
        assert self.session is not None
        shown = str(bet_id)
        try:
            bet = await self.games.cash_out(user_id=self.session.user_id, bet_id=bet_id)
        except LetsbetError as exc:
            return [protocol.bet_rejected("cashout", exc.code, exc.message, bet_id=shown)]
        except Exception:
            log.exception("crash_ws.cash_out_failed", game_id=self.seat.game_id)
            return [_unavailable("cashout", bet_id=shown)]
        return [protocol.cashout_confirmed(bet), *await self._balance(bet.currency)]

    # -- writing -----------------------------------------------------------------------------
    async def _write(self) -> None:
        """Sends what the seat queued (every frame on the send_text fallback; only the checks
        when frames go straight to the transport); closes the socket when it was cut off or
        its session ended."""
        queue, send = self.seat.queue, self.websocket.send_text
        while True:
            item = await queue.get()
            if isinstance(item, str):
                await send(item)
            elif item is None:
                await self._too_slow()
                return
            elif self.session is not None and self.session.seconds_left() <= 0:
                raise Closed(UNAUTHORIZED, "token_expired")

    async def _too_slow(self) -> None:
        # The close frame waits behind what the client has not read; a client that reads
        # nothing more is dropped instead of holding its buffer.
        try:
            await asyncio.wait_for(
                self.websocket.close(TRY_AGAIN_LATER, "too slow: reconnect"), CLOSE_SECONDS
            )
        except TimeoutError:
            if self.seat.raw is not None:
                self.seat.raw.abort()


def _unavailable(action: str, **ids: str) -> str:
    return protocol.bet_rejected(action, "unavailable", "Try again in a moment.", **ids)
