"""An event's /ws/odds snapshot frame and how catalogue changes move it forward: pure, no I/O.

The Redis cache (cache.py) stores the encoded frame itself, so a cached snapshot is sent as it
is read, with nothing to decode or format; the cache's writer applies each change to the frame
with `advance`. PostgreSQL snapshots are built by `frame_of`, the one shape for both.

    {"type": "snapshot", "event_id", "seq", "status", "markets": [{"market_id", "type",
     "line", "status", "outcomes": [{"outcome_id", "key", "name", "odds", "odds_milli",
     "active"}]}]}          markets by id, outcomes by id within their market
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from letsbet.sportsbook.catalogue.service import EventView, format_line, format_odds

Frame = dict[str, Any]


def frame_of(view: EventView) -> Frame:
    """The snapshot frame of an event read from PostgreSQL."""
    row = view.event
    return {
        "type": "snapshot",
        "event_id": row.id,
        "seq": row.seq,
        "status": row.status,
        "markets": [
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
                    for o in view.outcomes[m.id]
                ],
            }
            for m in view.markets
        ],
    }


@dataclass(frozen=True, slots=True)
class Change:
    """What one catalogue event changes in its event's snapshot (absolute values)."""

    event_id: int
    seq: int
    odds: Mapping[int, int] = field(default_factory=dict)  # outcome id → odds_milli
    market_status: Mapping[int, str] = field(default_factory=dict)  # market id → status
    event_status: str | None = None
    reset: bool = False  # the snapshot cannot follow (a market added): read it anew


def changes(subject: str, data: Mapping[str, Any]) -> Change | None:
    """The change a catalogue event makes to a snapshot; None if the snapshot does not show it.

    Every change sets absolute values, so applying one twice (a redelivery, or several api
    replicas each applying it) gives the same snapshot.
    """
    event_id, seq = int(data["event_id"]), int(data["seq"])
    match subject:
        case "sportsbook.odds.changed":
            odds = {int(o["outcome_id"]): int(o["odds_milli"]) for o in data["outcomes"]}
            return Change(event_id, seq, odds=odds)
        case "sportsbook.market.status_changed":
            return Change(event_id, seq, market_status={int(data["market_id"]): data["status"]})
        case "sportsbook.market.resulted":  # as the live frame says: resulted = settled
            return Change(event_id, seq, market_status={int(data["market_id"]): "settled"})
        case "sportsbook.event.status_changed":
            cascade = {int(m["market_id"]): str(m["status"]) for m in data.get("markets", [])}
            return Change(event_id, seq, market_status=cascade, event_status=str(data["status"]))
        case "sportsbook.market.created":  # its outcomes are not in the event: read them anew
            return Change(event_id, seq, reset=True)
        case _:
            return None


def advance(frame: Frame, change: Change) -> Frame | None:
    """`frame` (changed in place) with `change` applied and its seq; None if the change names
    a market or outcome the frame does not have (it cannot be followed: read it anew)."""
    if change.reset:
        return None
    markets = {m["market_id"]: m for m in frame["markets"]}
    outcomes = {o["outcome_id"]: o for m in frame["markets"] for o in m["outcomes"]}
    if not (
        change.odds.keys() <= outcomes.keys() and change.market_status.keys() <= markets.keys()
    ):
        return None
    for outcome_id, milli in change.odds.items():
        outcomes[outcome_id]["odds_milli"] = milli
        outcomes[outcome_id]["odds"] = format_odds(milli)
    for market_id, status in change.market_status.items():
        markets[market_id]["status"] = status
    if change.event_status is not None:
        frame["status"] = change.event_status
    frame["seq"] = change.seq
    return frame


# Subjects the cache writer consumes (server-side filter: bet traffic never reaches it).
SUBJECTS = (
    "sportsbook.odds.changed",
    "sportsbook.market.status_changed",
    "sportsbook.market.resulted",
    "sportsbook.event.status_changed",
    "sportsbook.market.created",
)
