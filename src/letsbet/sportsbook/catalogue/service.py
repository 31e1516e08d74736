"""Catalogue use cases: create events and markets, move prices, suspend, result.

Every function takes the caller's connection first and runs in the caller's transaction; the
change, the event's `seq` bump and the outbox event commit together. Writers lock the event row
first (see repository), so one event's changes are serialised.

Events recorded (NATS subjects), each with `actor` (who made the change) when known:
    sportsbook.event.created          event_id, seq, sport_id, competition_id, starts_at, countries
    sportsbook.event.updated          event_id, changes (starts_at, limits, score)
    sportsbook.event.status_changed   event_id, seq, status, previous_status, markets it changed
    sportsbook.market.created         event_id, market_id, seq, type, line_hundredths
    sportsbook.market.status_changed  event_id, market_id, seq, status, previous_status
    sportsbook.odds.changed           event_id, seq, outcomes [{outcome_id, market_id, odds_milli}]
    sportsbook.market.resulted        event_id, market_id, seq, correction, outcomes [{outcome_id,
                                      result, void_factor, dead_heat_factor}]
    sportsbook.market.result_rolled_back  event_id, market_id, seq, status, previous_status
                                      (results withdrawn; recorded with a status_changed)

Market rules (outcome keys, lines) are a small table here until the market module owns them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.domain import Role
from letsbet.accounts.tokens import Principal
from letsbet.errors import Conflict, NotFound, Unprocessable
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.http import cursor as cursors
from letsbet.platform.http.cursor import InvalidCursor
from letsbet.platform.money import MAX_AMOUNT_MINOR
from letsbet.sportsbook.catalogue import repository as repo
from letsbet.sportsbook.catalogue.repository import AnyRow, NewOutcome
from letsbet.sportsbook.markets import MAX_ODDS_MILLI, MIN_ODDS_MILLI


# -- errors --------------------------------------------------------------------------------------
class EventNotFound(NotFound):
    code = "event_not_found"
    message = "No such event."


class MarketNotFound(NotFound):
    code = "market_not_found"
    message = "No such market."


class OutcomeNotFound(NotFound):
    code = "outcome_not_found"
    message = "No such outcome."


class UnknownSport(Unprocessable):
    code = "unknown_sport"
    message = "No such sport."


class InvalidMarket(Unprocessable):
    code = "invalid_market"
    message = "The market is not valid."


class InvalidOdds(Unprocessable):
    code = "invalid_odds"
    message = 'Odds must be a decimal string from "1.001" to "1000" with at most 3 decimals.'


class InvalidResult(Unprocessable):
    code = "invalid_result"
    message = "The result is not valid."


class InvalidLimit(Unprocessable):
    code = "invalid_limit"
    message = "A limit must be a positive amount."


class InvalidDateRange(Unprocessable):
    code = "invalid_date_range"
    message = "`to` must not be before `from`."


class InvalidStatusChange(Conflict):
    code = "invalid_status_change"
    message = "This status change is not allowed."


class MarketNotResulted(Conflict):
    code = "market_not_resulted"
    message = "The market has no results to roll back."


class MarketClosed(Conflict):
    code = "market_closed"
    message = "The market is closed, settled or cancelled."


class EventExists(Conflict):
    code = "event_exists"
    message = "An event with this external_id exists."


class MarketExists(Conflict):
    code = "market_exists"
    message = "The event already has this market."


Source = Literal["admin", "feed"]  # who priced it, as the odds history records
RESULTED = "sportsbook.market.resulted"
ROLLED_BACK = "sportsbook.market.result_rolled_back"


# -- odds, lines and factors ---------------------------------------------------------------------
_ODDS = re.compile(r"([0-9]{1,7})(?:\.([0-9]{1,3}))?")
_LINE = re.compile(r"([+-]?)([0-9]{1,4})(?:\.([0-9]{1,2}))?")
_FACTOR = re.compile(r"[01](?:\.[0-9]{1,4})?")
MAX_LINE_HUNDREDTHS = 99_999


def parse_odds(text: str) -> int:
    """Decimal odds "2.5" / "2.50" / "1.333" → thousandths (2500, 1333), exactly."""
    match = _ODDS.fullmatch(text)
    if match is None:
        raise InvalidOdds(f'{text!r} is not decimal odds like "2.50".')
    return check_odds(int(match[1]) * 1000 + int((match[2] or "").ljust(3, "0")))


def check_odds(milli: int) -> int:
    if not MIN_ODDS_MILLI <= milli <= MAX_ODDS_MILLI:
        raise InvalidOdds(f"Odds of {milli} thousandths are out of range: 1.001 to 1000.")
    return milli


def format_odds(milli: int) -> str:
    """2500 → "2.50", 1333 → "1.333", 1010 → "1.01": two decimals, three when needed."""
    text = f"{milli // 1000}.{milli % 1000:03d}"
    return text[:-1] if text.endswith("0") else text


def parse_line(text: str) -> int:
    """A line "2.5" / "-0.75" / "+1" → hundredths (250, -75, 100); quarter lines only."""
    match = _LINE.fullmatch(text)
    if match is None:
        raise InvalidMarket(f'{text!r} is not a line like "2.5" or "-0.75".')
    hundredths = int(match[2]) * 100 + int((match[3] or "").ljust(2, "0"))
    if hundredths % 25 or hundredths > MAX_LINE_HUNDREDTHS:
        raise InvalidMarket(f"Line {text} is not a whole, half or quarter line.")
    return -hundredths if match[1] == "-" else hundredths


def format_line(hundredths: int, *, signed: bool = False) -> str:
    """250 → "2.5", -75 → "-0.75", 100 → "1" (signed: "+1")."""
    sign = "-" if hundredths < 0 else ("+" if signed and hundredths > 0 else "")
    whole, fraction = divmod(abs(hundredths), 100)
    return f"{sign}{whole}" + (f".{fraction:02d}".rstrip("0") if fraction else "")


def parse_factor(text: str, name: str) -> Decimal:
    """A void or dead-heat factor from 0 to 1 with at most 4 decimals, exactly."""
    if _FACTOR.fullmatch(text) is None or Decimal(text) > 1:
        raise InvalidResult(f'{name} must be a decimal from 0 to 1 like "0.5", not {text!r}.')
    return Decimal(text)


def format_factor(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def limit_minor(amount: Decimal) -> int:
    """A limit in major units ("5000.00") → minor units of the bettor's currency (every tenant
    currency has two decimals; amounts arrive as MajorAmount, so at most two decimals)."""
    minor = amount.scaleb(2)
    if minor <= 0 or minor != minor.to_integral_value() or minor > MAX_AMOUNT_MINOR:
        raise InvalidLimit(f"{amount} is not a positive amount with at most 2 decimals.")
    return int(minor)


def format_limit(minor: int | None) -> str | None:
    return None if minor is None else f"{minor // 100}.{minor % 100:02d}"


# -- market rules --------------------------------------------------------------------------------
class Line(Enum):
    NONE = "none"  # no line: 1X2, double chance, BTTS, moneyline
    TOTAL = "total"  # a positive quarter line: over/under 2.5, Asian totals 2.25, games 22.5
    WHOLE = "whole"  # European (3-way) handicap: whole goals, the home side's
    QUARTER = "quarter"  # Asian and game handicaps: whole, half and quarter lines, the home side's


@dataclass(frozen=True, slots=True)
class MarketRule:
    keys: tuple[str, ...]
    line: Line


MARKET_RULES: dict[str, MarketRule] = {
    "1x2": MarketRule(("home", "draw", "away"), Line.NONE),
    "double_chance": MarketRule(("1X", "12", "X2"), Line.NONE),
    "btts": MarketRule(("yes", "no"), Line.NONE),
    "over_under": MarketRule(("over", "under"), Line.TOTAL),
    "handicap": MarketRule(("home", "draw", "away"), Line.WHOLE),
    "asian_handicap": MarketRule(("home", "away"), Line.QUARTER),
    "moneyline": MarketRule(("home", "away"), Line.NONE),  # basketball, tennis: the winner
    "total_games": MarketRule(("over", "under"), Line.TOTAL),  # tennis: games won
    "game_handicap": MarketRule(("home", "away"), Line.QUARTER),  # tennis: games won
}
# An event's headline market in lists: 1X2 where a draw exists, else the two-way winner.
MAIN_MARKETS = ("1x2", "moneyline")


@dataclass(frozen=True, slots=True)
class NewMarket:
    type: str
    line: int | None
    prices: Mapping[str, int]  # outcome key → odds_milli
    names: Mapping[str, str] = field(default_factory=dict)  # outcome key → name, optional


def check_market(market: NewMarket) -> MarketRule:
    """The market's rule, or InvalidMarket saying what is wrong."""
    rule = MARKET_RULES.get(market.type)
    if rule is None:
        known = ", ".join(MARKET_RULES)
        raise InvalidMarket(f"Unknown market type {market.type!r}; known: {known}.")
    line = market.line
    if (line is None) != (rule.line is Line.NONE):
        need = "takes no line" if rule.line is Line.NONE else "needs a line"
        raise InvalidMarket(f"Market {market.type} {need}.")
    if line is not None and rule.line is Line.TOTAL and line <= 0:
        raise InvalidMarket(f"Market {market.type} needs a positive line.")
    if line is not None and rule.line is Line.WHOLE and line % 100:
        raise InvalidMarket(f"Market {market.type} needs a whole-number line.")
    for milli in market.prices.values():
        check_odds(milli)
    keys = set(market.prices)
    if keys != set(rule.keys):
        missing = sorted(set(rule.keys) - keys)
        extra = sorted(keys - set(rule.keys))
        raise InvalidMarket(
            f"Market {market.type} needs outcomes {', '.join(rule.keys)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(extra)}" if extra else "")
            + "."
        )
    return rule


def outcome_name(key: str, *, home: str, away: str, line: int | None) -> str:
    """The default display name of an outcome ("Arsenal -0.75", "Over 2.5", "Draw")."""
    if line is not None and key in ("over", "under"):
        return f"{key.title()} {format_line(line)}"
    if line is not None and key in ("home", "away"):
        side, own = (home, line) if key == "home" else (away, -line)
        return f"{side} {format_line(own, signed=True)}"
    fixed = {
        "home": home,
        "away": away,
        "draw": "Draw",
        "yes": "Yes",
        "no": "No",
        "1X": f"{home} or draw",
        "12": f"{home} or {away}",
        "X2": f"Draw or {away}",
    }
    return fixed.get(key, key)


# -- visibility and pagination -------------------------------------------------------------------
def viewer_country(principal: Principal | None, requested: str | None) -> str | None:
    """Players see what is offered in their own country; staff and anonymous callers may ask
    for a country (None: every country)."""
    if principal is not None and principal.role is Role.PLAYER:
        return principal.country
    return requested


def visible(event_row: AnyRow, country: str | None) -> bool:
    return country is None or country in event_row.countries


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(-?[0-9]{1,17})\.([1-9][0-9]{0,18})")


def encode_cursor(starts_at: datetime, event_id: int) -> str:
    """An opaque keyset cursor: base64url of "<starts_at in µs since 1970>.<event id>"."""
    micros = (starts_at - _EPOCH) // timedelta(microseconds=1)
    return cursors.encode_cursor(f"{micros}.{event_id}")


def decode_cursor(value: str) -> tuple[datetime, int]:
    """(starts_at, id) of a page's last event; InvalidCursor for anything we did not make."""
    match = _CURSOR.fullmatch(cursors.decode_cursor(value, max_chars=64))
    if match is None or int(match[2]) >= 2**63:
        raise InvalidCursor()
    try:
        return _EPOCH + timedelta(microseconds=int(match[1])), int(match[2])
    except OverflowError:
        raise InvalidCursor() from None


# -- reads ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventView:
    event: AnyRow
    markets: list[AnyRow]
    outcomes: dict[int, list[AnyRow]]  # market id → its outcomes


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[AnyRow]
    main_markets: dict[int, list[AnyRow]]  # event id → the outcomes of its main market
    next_cursor: str | None


async def list_sports(conn: AsyncConnection, *, country: str | None) -> list[AnyRow]:
    return await repo.sports_with_counts(conn, country)


async def list_events(
    conn: AsyncConnection, where: repo.EventFilter, *, limit: int, cursor: str | None
) -> EventPage:
    """One page of events in kick-off order; pass `next_cursor` back for the next page."""
    if where.since is not None and where.until is not None and where.until < where.since:
        raise InvalidDateRange()
    after = decode_cursor(cursor) if cursor is not None else None
    rows = await repo.events_page(conn, where, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    main: dict[int, list[AnyRow]] = {}
    for outcome in await repo.main_markets(conn, [r.id for r in page], MAIN_MARKETS):
        shown = main.setdefault(outcome.event_id, [])
        if shown and shown[0].market_type != outcome.market_type:
            if MAIN_MARKETS.index(outcome.market_type) > MAIN_MARKETS.index(shown[0].market_type):
                continue
            shown.clear()  # a more preferred market type for this event
        shown.append(outcome)
    last = page[-1] if page else None
    return EventPage(
        events=page,
        main_markets=main,
        next_cursor=encode_cursor(last.starts_at, last.id) if more and last else None,
    )


async def event_view(conn: AsyncConnection, event_id: int, *, country: str | None) -> EventView:
    """The event with all its markets and outcomes; EventNotFound if not offered in `country`."""
    row = await repo.event(conn, event_id)
    if row is None or not visible(row, country):
        raise EventNotFound(f"No event {event_id}.")
    event_markets = await repo.markets_of(conn, event_id)
    grouped: dict[int, list[AnyRow]] = {m.id: [] for m in event_markets}
    for outcome in await repo.outcomes_of(conn, list(grouped)):
        grouped[outcome.market_id].append(outcome)
    return EventView(event=row, markets=event_markets, outcomes=grouped)


# -- trading: events and markets -----------------------------------------------------------------
LIMIT_FIELDS = ("max_stake", "max_payout", "liability_cap")
# PATCH status changes; suspending goes through suspend_event/unsuspend_event.
_TRANSITIONS: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"live", "postponed", "cancelled", "ended"}),
    "live": frozenset({"ended", "cancelled", "postponed"}),
    "suspended": frozenset({"scheduled", "live", "ended", "cancelled", "postponed"}),
    "postponed": frozenset({"scheduled", "cancelled"}),
    "ended": frozenset(),
    "cancelled": frozenset(),
}
# What an event's end does to its markets: betting stops, results (or voids) follow.
_CASCADE: dict[str, tuple[tuple[str, ...], str]] = {
    "ended": (("open", "suspended"), "closed"),
    "cancelled": (("open", "suspended", "closed"), "cancelled"),
}
SETTLED_MARKET_STATUSES = ("settled", "cancelled")


@dataclass(frozen=True, slots=True)
class NewEvent:
    sport_id: str
    competition: str
    region: str
    home: str
    away: str
    starts_at: datetime
    markets: Sequence[NewMarket] = ()
    countries: Sequence[str] | None = None  # None: the default, every country
    limits: Mapping[str, int | None] = field(default_factory=dict)
    external_id: str | None = None


def _event(subject: str, data: dict[str, Any], actor: str | None) -> Event:
    return Event(subject=subject, data={**data, "actor": actor})


async def _locked(conn: AsyncConnection, event_id: int) -> AnyRow:
    row = await repo.lock_event(conn, event_id)
    if row is None:
        raise EventNotFound(f"No event {event_id}.")
    return row


def _check_markets(new_markets: Sequence[NewMarket]) -> None:
    seen: set[tuple[str, int | None]] = set()
    for market in new_markets:
        check_market(market)
        if (market.type, market.line) in seen:
            raise InvalidMarket(f"Two {market.type} markets with the same line.")
        seen.add((market.type, market.line))


async def _insert_market(
    conn: AsyncConnection,
    event: AnyRow | NewEvent,
    event_id: int,
    market: NewMarket,
    source: Source,
) -> int:
    rule = check_market(market)
    return await repo.insert_market(
        conn,
        event_id,
        market.type,
        market.line,
        [
            NewOutcome(
                key=key,
                name=market.names.get(key)
                or outcome_name(key, home=event.home, away=event.away, line=market.line),
                odds_milli=market.prices[key],
            )
            for key in rule.keys
        ],
        source=source,
    )


async def create_event(
    conn: AsyncConnection, new: NewEvent, *, source: Source = "admin", actor: str | None = None
) -> int:
    """Create an event (and its competition if missing) with its markets and opening prices
    (written to the odds history too). EventExists when the external_id is taken."""
    if await repo.sport(conn, new.sport_id) is None:
        raise UnknownSport(f"No sport {new.sport_id!r}.")
    _check_markets(new.markets)
    competition_id = await repo.ensure_competition(conn, new.sport_id, new.competition, new.region)
    values: dict[str, Any] = {
        "sport_id": new.sport_id,
        "competition_id": competition_id,
        "home": new.home,
        "away": new.away,
        "starts_at": new.starts_at,
        "external_id": new.external_id,
        **{name: new.limits.get(name) for name in LIMIT_FIELDS},
    }
    if new.countries is not None:
        values["countries"] = list(new.countries)
    event_id = await repo.insert_event(conn, values)
    if event_id is None:
        assert new.external_id is not None
        existing = await repo.event_by_external_id(conn, new.external_id)
        raise EventExists(
            f"Event {existing} has external_id {new.external_id!r}.", event_id=existing
        )
    for market in new.markets:
        await _insert_market(conn, new, event_id, market, source)
    created = await repo.event(conn, event_id)
    assert created is not None
    data = {
        "event_id": event_id,
        "seq": created.seq,
        "sport_id": new.sport_id,
        "competition_id": competition_id,
        "starts_at": new.starts_at.isoformat(),
        "countries": list(created.countries),
    }
    await record(conn, _event("sportsbook.event.created", data, actor))
    return event_id


async def add_markets(
    conn: AsyncConnection,
    event_id: int,
    new_markets: Sequence[NewMarket],
    *,
    source: Source = "admin",
    actor: str | None = None,
) -> list[int]:
    """Open more markets on an event that has not ended; MarketExists for a (type, line) twice."""
    event = await _locked(conn, event_id)
    if event.status in ("ended", "cancelled"):
        raise InvalidStatusChange(f"Markets cannot be added to a {event.status} event.")
    _check_markets(new_markets)
    existing = {(m.type, m.line_hundredths) for m in await repo.markets_of(conn, event_id)}
    for market in new_markets:
        if (market.type, market.line) in existing:
            line = "" if market.line is None else f" {format_line(market.line)}"
            raise MarketExists(f"Event {event_id} already has a {market.type}{line} market.")
    ids = [await _insert_market(conn, event, event_id, m, source) for m in new_markets]
    seq = await repo.bump_seq(conn, event_id)
    await record(
        conn,
        *(
            _event(
                "sportsbook.market.created",
                {
                    "event_id": event_id,
                    "market_id": market_id,
                    "seq": seq,
                    "type": market.type,
                    "line_hundredths": market.line,
                },
                actor,
            )
            for market_id, market in zip(ids, new_markets, strict=True)
        ),
    )
    return ids


async def _cascade(conn: AsyncConnection, event_id: int, status: str) -> list[dict[str, Any]]:
    """Close or cancel the event's markets as its new status requires; what changed."""
    if status not in _CASCADE:
        return []
    sources, target = _CASCADE[status]
    affected = [m.id for m in await repo.markets_of(conn, event_id) if m.status in sources]
    if affected:
        await repo.set_market_status(conn, affected, target)
    return [{"market_id": market_id, "status": target} for market_id in affected]


async def _set_status(
    conn: AsyncConnection,
    event: AnyRow,
    status: str,
    *,
    actor: str | None,
    values: Mapping[str, Any] | None = None,
) -> int:
    changed_markets = await _cascade(conn, event.id, status)
    seq = await repo.bump_seq(conn, event.id, status=status, **(values or {}))
    data = {
        "event_id": event.id,
        "seq": seq,
        "status": status,
        "previous_status": event.status,
        "markets": changed_markets,
    }
    await record(conn, _event("sportsbook.event.status_changed", data, actor))
    return seq


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


async def update_event(
    conn: AsyncConnection,
    event_id: int,
    *,
    status: str | None = None,
    starts_at: datetime | None = None,
    limits: Mapping[str, int | None] | None = None,
    score: tuple[int, int] | None = None,
    actor: str | None = None,
) -> None:
    """Change an event's status (InvalidStatusChange unless allowed), kick-off, limits (minor
    units; None clears) or score. Ending closes its open markets; cancelling cancels them."""
    event = await _locked(conn, event_id)
    values: dict[str, Any] = {}
    if starts_at is not None and starts_at != event.starts_at:
        values["starts_at"] = starts_at
    for name, value in (limits or {}).items():
        assert name in LIMIT_FIELDS
        if getattr(event, name) != value:
            values[name] = value
    if score is not None and score != (event.home_score, event.away_score):
        values.update(home_score=score[0], away_score=score[1])
    if status is not None and status != event.status:
        if status not in _TRANSITIONS[event.status]:
            raise InvalidStatusChange(f"An event cannot go from {event.status} to {status}.")
        await _set_status(conn, event, status, actor=actor, values=values)
    elif values:
        await repo.update_event(conn, event_id, **values)
    if values:
        data = {"event_id": event_id, "changes": _jsonable(values)}
        await record(conn, _event("sportsbook.event.updated", data, actor))


async def suspend_event(conn: AsyncConnection, event_id: int, *, actor: str | None = None) -> None:
    """Stop all betting on a scheduled or live event (a no-op if it is suspended already)."""
    event = await _locked(conn, event_id)
    if event.status == "suspended":
        return
    if event.status not in ("scheduled", "live"):
        raise InvalidStatusChange(f"A {event.status} event cannot be suspended.")
    await _set_status(conn, event, "suspended", actor=actor)


async def unsuspend_event(
    conn: AsyncConnection, event_id: int, *, actor: str | None = None, now: datetime | None = None
) -> None:
    """Resume betting: live if the event has kicked off, else scheduled."""
    event = await _locked(conn, event_id)
    if event.status in ("scheduled", "live"):
        return
    if event.status != "suspended":
        raise InvalidStatusChange(f"A {event.status} event is not suspended.")
    kicked_off = event.starts_at <= (now or datetime.now(UTC))
    await _set_status(conn, event, "live" if kicked_off else "scheduled", actor=actor)


async def set_market_open(
    conn: AsyncConnection, market_id: int, *, open_: bool, actor: str | None = None
) -> int:
    """Suspend (open_=False) or reopen (open_=True) one market; its event's id."""
    event = await repo.lock_event_of_market(conn, market_id)
    market = await repo.market(conn, market_id) if event is not None else None
    if event is None or market is None:
        raise MarketNotFound(f"No market {market_id}.")
    target, expected = ("open", "suspended") if open_ else ("suspended", "open")
    if market.status == target:
        return int(event.id)
    if market.status != expected:
        verb = "reopened" if open_ else "suspended"
        raise InvalidStatusChange(f"A {market.status} market cannot be {verb}.")
    await repo.set_market_status(conn, [market_id], target)
    seq = await repo.bump_seq(conn, event.id)
    data = {
        "event_id": event.id,
        "market_id": market_id,
        "seq": seq,
        "status": target,
        "previous_status": market.status,
    }
    await record(conn, _event("sportsbook.market.status_changed", data, actor))
    return int(event.id)


# -- trading: prices -----------------------------------------------------------------------------
async def update_odds(
    conn: AsyncConnection,
    event_id: int,
    prices: Mapping[int, int],
    *,
    source: Source = "admin",
    actor: str | None = None,
) -> int | None:
    """Re-price outcomes of one event (outcome id → odds_milli): writes the odds history, bumps
    the event's seq once and records sportsbook.odds.changed. None when no price moved."""
    for milli in prices.values():
        check_odds(milli)
    await _locked(conn, event_id)
    rows = {r.id: r for r in await repo.outcomes_in_event(conn, event_id, list(prices))}
    missing = [outcome_id for outcome_id in prices if outcome_id not in rows]
    if missing:
        raise OutcomeNotFound(f"Event {event_id} has no outcome {missing[0]}.", outcome_ids=missing)
    for row in rows.values():
        if row.market_status in ("closed", "settled", "cancelled"):
            raise MarketClosed(
                f"Market {row.market_id} is {row.market_status}; its odds are final."
            )
    moved = [(oid, odds) for oid, odds in prices.items() if rows[oid].odds_milli != odds]
    if not moved:
        return None
    await repo.set_odds(conn, moved)
    await repo.insert_history(conn, moved, source)
    seq = await repo.bump_seq(conn, event_id)
    changed = [
        {"outcome_id": oid, "market_id": rows[oid].market_id, "odds_milli": odds}
        for oid, odds in moved
    ]
    data = {"event_id": event_id, "seq": seq, "outcomes": changed}
    await record(conn, _event("sportsbook.odds.changed", data, actor))
    return seq


# -- trading: results ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OutcomeResult:
    """Sportradar's bet_settlement shape. Settlement computes each leg's factor as
    void_factor + (1 - void_factor) * (won ? odds * dead_heat_factor : 0)."""

    outcome_id: int
    result: str  # "won" | "lost"
    void_factor: Decimal | None = None  # share of the stake refunded: 0.5 on a half-lost line
    dead_heat_factor: Decimal | None = None  # share of a win paid: 0.5 in a two-way dead heat

    def canonical(self) -> tuple[str, Decimal | None, Decimal | None]:
        """(result, void_factor, dead_heat_factor) with the neutral values (void 0, dead heat 1)
        stored as NULL, so equal results compare equal however they were written."""
        if self.result not in ("won", "lost"):
            raise InvalidResult(f"Result must be won or lost, not {self.result!r}.")
        void = self.void_factor or None
        dead_heat = None if self.dead_heat_factor == 1 else self.dead_heat_factor
        if dead_heat is not None and (dead_heat <= 0 or self.result != "won"):
            raise InvalidResult("A dead_heat_factor above 0 applies to a won outcome only.")
        return self.result, void, dead_heat


@dataclass(frozen=True, slots=True)
class MarketResult:
    market_id: int
    outcomes: Sequence[OutcomeResult]


Canonical = tuple[str, Decimal | None, Decimal | None]


def _resolve(market: AnyRow, stored: list[AnyRow], given: MarketResult) -> dict[int, Canonical]:
    """The market's new results by outcome id, checked to cover every outcome exactly once."""
    if market.status == "cancelled":
        raise MarketClosed(f"Market {market.id} is cancelled; it cannot be resulted.")
    by_id = {o.outcome_id: o for o in given.outcomes}
    if len(by_id) != len(given.outcomes):
        raise InvalidResult(f"An outcome of market {market.id} appears twice.")
    known = {row.id for row in stored}
    unknown = sorted(by_id.keys() - known)
    if unknown:
        raise OutcomeNotFound(f"Market {market.id} has no outcome {unknown[0]}.")
    missing = sorted(known - by_id.keys())
    if missing:
        raise InvalidResult(
            f"Market {market.id} needs a result for every outcome; missing {missing}."
        )
    return {outcome_id: result.canonical() for outcome_id, result in by_id.items()}


async def _changed_results(
    conn: AsyncConnection,
    event_id: int,
    event_markets: Mapping[int, AnyRow],
    results: Sequence[MarketResult],
) -> list[tuple[AnyRow, dict[int, Canonical]]]:
    """The markets whose results are new or differ from the stored ones, with those results."""
    if len({r.market_id for r in results}) != len(results):
        raise InvalidResult("Each market may appear once.")
    for given in results:
        if given.market_id not in event_markets:
            raise MarketNotFound(f"Event {event_id} has no market {given.market_id}.")
    stored: dict[int, list[AnyRow]] = {r.market_id: [] for r in results}
    for row in await repo.outcomes_of(conn, list(stored)):
        stored[row.market_id].append(row)
    changed = []
    for given in results:
        market, rows = event_markets[given.market_id], stored[given.market_id]
        new = _resolve(market, rows, given)
        old = {row.id: (row.result, row.void_factor, row.dead_heat_factor) for row in rows}
        if not (market.status == "settled" and new == old):
            changed.append((market, new))
    return changed


def _resulted(
    event_id: int, seq: int, market: AnyRow, new: Mapping[int, Canonical], actor: str | None
) -> Event:
    outcomes_data = [
        {
            "outcome_id": oid,
            "result": result,
            "void_factor": format_factor(void),
            "dead_heat_factor": format_factor(dead_heat),
        }
        for oid, (result, void, dead_heat) in sorted(new.items())
    ]
    data = {
        "event_id": event_id,
        "market_id": market.id,
        "seq": seq,
        "correction": market.status == "settled",
        "outcomes": outcomes_data,
    }
    return _event(RESULTED, data, actor)


async def result_event(
    conn: AsyncConnection,
    event_id: int,
    results: Sequence[MarketResult],
    *,
    score: tuple[int, int] | None = None,
    actor: str | None = None,
) -> None:
    """Store market results and record sportsbook.market.resulted for settlement.

    Every outcome of a resulted market needs a result. Re-posting identical results changes
    nothing; different results for a settled market are a correction (recorded again with
    correction=true, for settlement to roll back and resettle). The event ends when a final
    score is given or every market is settled or cancelled.
    """
    event = await _locked(conn, event_id)
    if event.status == "cancelled":
        raise InvalidStatusChange("A cancelled event cannot be resulted.")
    event_markets = {m.id: m for m in await repo.markets_of(conn, event_id)}
    changed = await _changed_results(conn, event_id, event_markets, results)
    if changed:
        await repo.set_results(
            conn,
            [
                {"outcome_id": oid, "result": r, "void_factor": v, "dead_heat_factor": d}
                for _, new in changed
                for oid, (r, v, d) in new.items()
            ],
        )
        first_time = [market.id for market, _ in changed if market.status != "settled"]
        if first_time:
            await repo.set_market_status(conn, first_time, "settled")

    done = {m.id for m, _ in changed} | {
        m.id for m in event_markets.values() if m.status in SETTLED_MARKET_STATUSES
    }
    ending = event.status != "ended" and (score is not None or done >= event_markets.keys())
    values: dict[str, Any] = {}
    if score is not None and score != (event.home_score, event.away_score):
        values = {"home_score": score[0], "away_score": score[1]}
    if not changed and not ending:
        if values:  # a corrected final score
            await repo.update_event(conn, event_id, **values)
            data = {"event_id": event_id, "changes": values}
            await record(conn, _event("sportsbook.event.updated", data, actor))
        return
    if ending:
        closed = await _cascade(conn, event_id, "ended")
        values["status"] = "ended"
    seq = await repo.bump_seq(conn, event_id, **values)
    recorded = [_resulted(event_id, seq, market, new, actor) for market, new in changed]
    if ending:
        data = {
            "event_id": event_id,
            "seq": seq,
            "status": "ended",
            "previous_status": event.status,
            "markets": closed,
        }
        recorded.append(_event("sportsbook.event.status_changed", data, actor))
    await record(conn, *recorded)


async def rollback_results(
    conn: AsyncConnection,
    event_id: int,
    market_ids: Sequence[int],
    *,
    actor: str | None = None,
    only_resulted: bool = False,
) -> list[int]:
    """Roll back the settlement of resulted markets (UOF rollback_bet_settlement): their
    results are cleared and settlement reopens the bets settled on them (see
    bets.resettlement); a later result settles them again. The ids rolled back.

    A market goes back to a state that takes no bets: closed when its event has ended (its
    odds are final and it only awaits results), else suspended (the trader may reopen it, e.g.
    after results posted too early in play). MarketNotResulted for a market without results,
    unless `only_resulted` (the feed: a replayed rollback is skipped).
    """
    event = await _locked(conn, event_id)
    event_markets = {m.id: m for m in await repo.markets_of(conn, event_id)}
    for market_id in market_ids:
        if market_id not in event_markets:
            raise MarketNotFound(f"Event {event_id} has no market {market_id}.")
    targets = [m for m in dict.fromkeys(market_ids) if event_markets[m].status == "settled"]
    if not only_resulted and len(targets) < len(set(market_ids)):
        missing = next(m for m in market_ids if m not in targets)
        raise MarketNotResulted(f"Market {missing} has no results to roll back.", market_id=missing)
    if not targets:
        return []
    status = "closed" if event.status == "ended" else "suspended"
    await repo.clear_results(conn, targets)
    await repo.set_market_status(conn, targets, status)
    seq = await repo.bump_seq(conn, event_id)
    recorded: list[Event] = []
    for market_id in targets:
        data = {
            "event_id": event_id,
            "market_id": market_id,
            "seq": seq,
            "status": status,
            "previous_status": "settled",
        }
        recorded.append(_event("sportsbook.market.status_changed", data, actor))
        recorded.append(_event(ROLLED_BACK, data, actor))
    await record(conn, *recorded)
    return targets
