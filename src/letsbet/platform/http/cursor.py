"""Opaque keyset-pagination cursors: base64url of a short ASCII text the endpoint defines.

Each endpoint decides what goes inside (a posting id, "starts_at.id", ...) and parses it back;
this module only wraps it, and rejects anything we did not make with 422 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii

from letsbet.errors import Unprocessable


class InvalidCursor(Unprocessable):
    code = "invalid_cursor"
    message = "The cursor is not valid; use the next_cursor of a previous page."


def encode_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("ascii")).rstrip(b"=").decode()


def decode_cursor(cursor: str, *, max_chars: int = 64) -> str:
    """The text inside a cursor; InvalidCursor for wrong length, alphabet or encoding."""
    if not 0 < len(cursor) <= max_chars:
        raise InvalidCursor()
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return raw.decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
