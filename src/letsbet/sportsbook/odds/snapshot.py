"""An event's current prices and statuses, as /ws/odds sends them: pure data, no I/O.

One shape for both sources of a snapshot, PostgreSQL (`from_view`) and the Redis cache
(`from_fields`), so the two cannot drift apart; and the pure rules that keep the cache's copy
current (`changes`): which hash fields a catalogue event sets.

The cache holds one Redis hash per event:

    seq         the event's seq the copy is at
    status      event status
    m:<id>      market, JSON {"type", "line"} (line in hundredths or null)
    ms:<id>     market status
    o:<id>      outcome, JSON {"market_id", "key", "name", "active"}
    p:<id>      outcome odds in thousandths
    fence       only while there is no copy: the highest seq seen (see cache.py)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from letsbet.sportsbook.catalogue.service import EventView, format_line, format_odds


@dataclass(frozen=True, slots=True)
class OutcomeSnap:
    id: int
    key: str
    name: str
    odds_milli: int
    active: bool


@dataclass(frozen=True, slots=True)
class MarketSnap:
    id: int
    type: str
    line_hundredths: int | None
    status: str
    outcomes: tuple[OutcomeSnap, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    event_id: int
    seq: int
    status: str
    markets: tuple[MarketSnap, ...]  # by market id, outcomes by outcome id (as PostgreSQL reads)

    @staticmethod
    def from_view(view: EventView) -> Snapshot:
        return Snapshot(
            event_id=view.event.id,
            seq=view.event.seq,
            status=view.event.status,
            markets=tuple(
                MarketSnap(
                    id=m.id,
                    type=m.type,
                    line_hundredths=m.line_hundredths,
                    status=m.status,
                    outcomes=tuple(
                        OutcomeSnap(o.id, o.key, o.name, o.odds_milli, o.active)
                        for o in view.outcomes[m.id]
                    ),
                )
                for m in view.markets
            ),
        )

    def frame(self) -> str:
        """The /ws/odds snapshot frame."""
        markets = [
            {
                "market_id": m.id,
                "type": m.type,
                "line": None if m.line_hundredths is None else format_line(m.line_hundredths),
                "status": m.status,
                "outcomes": [
                    {
                        "outcome_id": o.id,
                        "key": o.key,
                        "name": o.name,
                        "odds": format_odds(o.odds_milli),
                        "odds_milli": o.odds_milli,
                        "active": o.active,
                    }
                    for o in m.outcomes
                ],
            }
            for m in self.markets
        ]
        message = {
            "type": "snapshot",
            "event_id": self.event_id,
            "seq": self.seq,
            "status": self.status,
            "markets": markets,
        }
        return orjson.dumps(message).decode()

    # -- the cache's hash ------------------------------------------------------------------------
    def fields(self) -> dict[str, str | int]:
        """The hash fields holding this snapshot (the seq included)."""
        fields: dict[str, str | int] = {"seq": self.seq, "status": self.status}
        for m in self.markets:
            fields[f"m:{m.id}"] = _json({"type": m.type, "line": m.line_hundredths})
            fields[f"ms:{m.id}"] = m.status
            for o in m.outcomes:
                fields[f"o:{o.id}"] = _json(
                    {"market_id": m.id, "key": o.key, "name": o.name, "active": o.active}
                )
                fields[f"p:{o.id}"] = o.odds_milli
        return fields

    @staticmethod
    def from_fields(event_id: int, raw: Mapping[bytes, bytes]) -> Snapshot | None:
        """The snapshot a hash holds; None when it holds no complete copy."""
        if b"seq" not in raw or b"status" not in raw:
            return None
        markets: dict[int, dict[str, Any]] = {}
        outcomes: dict[int, list[OutcomeSnap]] = {}
        for name, value in raw.items():
            kind, _, ident = name.partition(b":")
            if kind == b"m":
                markets[int(ident)] = orjson.loads(value)
            elif kind == b"o":
                o = orjson.loads(value)
                odds = raw.get(b"p:" + ident)
                if odds is None:
                    return None
                outcomes.setdefault(int(o["market_id"]), []).append(
                    OutcomeSnap(int(ident), o["key"], o["name"], int(odds), bool(o["active"]))
                )
        snaps = []
        for market_id in sorted(markets):
            status = raw.get(b"ms:%d" % market_id)
            if status is None:
                return None
            meta = markets[market_id]
            snaps.append(
                MarketSnap(
                    id=market_id,
                    type=meta["type"],
                    line_hundredths=meta["line"],
                    status=status.decode(),
                    outcomes=tuple(sorted(outcomes.get(market_id, ()), key=lambda o: o.id)),
                )
            )
        return Snapshot(event_id, int(raw[b"seq"]), raw[b"status"].decode(), tuple(snaps))


def _json(value: Mapping[str, Any]) -> str:
    return orjson.dumps(value).decode()


# -- catalogue events → hash fields ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Change:
    """What one catalogue event does to its event's cached copy."""

    event_id: int
    seq: int
    fields: Mapping[str, str | int]  # empty when reset
    reset: bool = False


def changes(subject: str, data: Mapping[str, Any]) -> Change | None:
    """The cache change a catalogue event makes; None for subjects the copy does not show.

    Every change sets absolute values, so applying one twice (a redelivery, or several api
    replicas each applying it) gives the same hash.
    """
    match subject:
        case "sportsbook.odds.changed":
            fields: dict[str, str | int] = {
                f"p:{int(o['outcome_id'])}": int(o["odds_milli"]) for o in data["outcomes"]
            }
        case "sportsbook.market.status_changed":
            fields = {f"ms:{int(data['market_id'])}": str(data["status"])}
        case "sportsbook.market.resulted":  # as the live frame says: resulted = settled
            fields = {f"ms:{int(data['market_id'])}": "settled"}
        case "sportsbook.event.status_changed":
            fields = {"status": str(data["status"])}
            for m in data.get("markets", []):
                fields[f"ms:{int(m['market_id'])}"] = str(m["status"])
        case "sportsbook.market.created":  # its outcomes are not in the event: read them anew
            return Change(int(data["event_id"]), int(data["seq"]), {}, reset=True)
        case _:
            return None
    return Change(int(data["event_id"]), int(data["seq"]), fields)


# Subjects the cache writer consumes (server-side filter: bet traffic never reaches it).
SUBJECTS = (
    "sportsbook.odds.changed",
    "sportsbook.market.status_changed",
    "sportsbook.market.resulted",
    "sportsbook.event.status_changed",
    "sportsbook.market.created",
)
