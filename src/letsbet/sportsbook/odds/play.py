"""One moment of simulated play, as each sport's model reports it to the simulated feed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

__all__ = ["MarketStatus", "Play"]

State = TypeVar("State")
MarketStatus = Literal["active", "suspended"]  # UOF market status 1 / -1


@dataclass(frozen=True, slots=True)
class Play(Generic[State]):
    """The match `state` after a moment of play; whether betting stops first (a goal, a break
    of serve, a period's end); the markets' status after it (None: as they are: prices move);
    whether the match is over (the state is final)."""

    state: State
    stop: bool = False
    status: MarketStatus | None = None
    ended: bool = False
