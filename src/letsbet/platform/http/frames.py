"""Client frames on our WebSockets (/ws/odds, /ws/bets, /ws/games): JSON objects told apart by
`action`, validated by a pydantic discriminated union. A bad frame gets an error frame with a
stable code and the socket stays open; this is the one place those codes are decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FrameError:
    code: str  # invalid_json | invalid_message | unknown_action
    message: str


def parse_frame(
    adapter: TypeAdapter[T], raw: str | bytes, *, max_chars: int, actions: str
) -> T | FrameError:
    """The client's message, or why it is refused. `actions` names the valid ones for the
    message ("auth or ping")."""
    if len(raw) > max_chars:
        return FrameError("invalid_message", f"Messages are at most {max_chars} characters.")
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        kind = first["type"]
        if kind == "json_invalid":
            return FrameError("invalid_json", "The message is not valid JSON.")
        if kind == "union_tag_not_found":
            return FrameError("invalid_message", "action is required.")
        if kind in ("model_attributes_type", "model_type"):
            return FrameError("invalid_message", "A message is an object with an action.")
        if kind == "union_tag_invalid":
            return FrameError("unknown_action", f"action must be {actions}.")
        where = ".".join(str(part) for part in first["loc"][1:]) or "message"
        return FrameError("invalid_message", f"{where}: {first['msg']}.")
