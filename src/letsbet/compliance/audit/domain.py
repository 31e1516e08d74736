"""Pure audit rules: what a record is, its canonical serialisation, its hash, the chain walk,
and the before/after diff. No I/O.

The chain. Row n stores `prev_hash` (row n-1's hash; row 1 stores GENESIS_HASH) and
`hash` = lowercase hex SHA-256 of `canonical(row)`. Changing any field of a row changes its
hash; deleting a row leaves a gap in `seq` and a `prev_hash` that matches nothing; cutting
the tail off leaves the chain head (its own table) ahead of the last row.

The canonical serialisation (version 1), exactly: a JSON object with these 14 keys
    v (the integer 1), seq (integer), occurred_at (UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ", always
    six fraction digits), actor_user_id (lowercase hyphenated UUID or null), actor_role,
    country, action, target_type, target_id, request_id (or null), client_ip (or null),
    before, after (JSON values or null), prev_hash (64 lowercase hex digits)
serialised with object keys sorted by Unicode code point at every level, no whitespace
(separators "," and ":"), every non-ASCII character escaped as \\uXXXX (UTF-16 surrogate pairs
above U+FFFF), JSON's short escapes for \\" \\\\ \\b \\f \\n \\r \\t and \\u00XX for other control
characters; then encoded as ASCII. This is Python's
`json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`, so an auditor
can recompute any hash with the standard library alone. `before`/`after` hold only strings,
integers, booleans, null, arrays and objects (no floats: PostgreSQL's jsonb would rewrite their
text; amounts are integer minor units anyway), so what jsonb stores reads back identically.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

GENESIS_HASH = "0" * 64
FORMAT_VERSION = 1
SYSTEM_ROLE = "system"
ANONYMOUS_ROLE = "anonymous"
REDACTED = "***"
# Never stored, whatever a caller passes: the log is permanent and readable by compliance staff.
SECRET_KEYS = frozenset(
    {
        "password",
        "password_hash",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "api_key",
        "pin",
        "otp",
    }
)

JSON = dict[str, Any] | list[Any] | str | int | bool | None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it, and from where. `user_id` None is the system (a CLI command, a job)."""

    user_id: uuid.UUID | None
    role: str
    country: str
    request_id: str | None = None
    client_ip: str | None = None

    @classmethod
    def system(cls, country: str) -> Actor:
        return cls(user_id=None, role=SYSTEM_ROLE, country=country)

    @property
    def label(self) -> str:
        """The `actor` catalogue events carry ("user:<id>", "system")."""
        return f"user:{self.user_id}" if self.user_id else self.role


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    occurred_at: datetime
    actor_user_id: uuid.UUID | None
    actor_role: str
    country: str
    action: str
    target_type: str
    target_id: str
    before: JSON
    after: JSON
    request_id: str | None
    client_ip: str | None
    prev_hash: str

    def canonical(self) -> bytes:
        body = {
            "v": FORMAT_VERSION,
            "seq": self.seq,
            "occurred_at": format_time(self.occurred_at),
            "actor_user_id": None if self.actor_user_id is None else str(self.actor_user_id),
            "actor_role": self.actor_role,
            "country": self.country,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "before": self.before,
            "after": self.after,
            "request_id": self.request_id,
            "client_ip": self.client_ip,
            "prev_hash": self.prev_hash,
        }
        text = json.dumps(
            body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
        return text.encode("ascii")

    def digest(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def format_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def jsonable(value: Any) -> JSON:
    """`value` as the JSON the chain can hash stably: secrets redacted, no floats, no NULs.

    Decimals, dates, UUIDs and enums become strings; tuples become arrays. A float or an
    unknown type is a programming error (TypeError), never silently rounded.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("audit text may not contain NUL characters")
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = jsonable(key) if not isinstance(key, str) else key
            if not isinstance(name, str):
                name = str(name)
            out[name] = REDACTED if name.lower() in SECRET_KEYS else jsonable(item)
        return out
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    raise TypeError(f"cannot store {type(value).__name__} in the audit log")


def diff(before: JSON, after: JSON) -> tuple[JSON, JSON]:
    """Only what changed: for two objects, the keys whose values differ (recursively), each
    side with its own value (a key present on one side only appears on that side)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return (before, after) if before != after else (None, None)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            old[key] = before[key]
        elif key not in before:
            new[key] = after[key]
        elif before[key] != after[key]:
            if isinstance(before[key], dict) and isinstance(after[key], dict):
                old[key], new[key] = diff(before[key], after[key])
            else:
                old[key], new[key] = before[key], after[key]
    return old, new


@dataclass(frozen=True, slots=True)
class ChainBreak:
    seq: int
    reason: str  # seq_gap, prev_hash_mismatch, hash_mismatch, head_mismatch
    detail: str

    def line(self) -> str:
        return f"audit chain broken at seq {self.seq}: {self.reason}: {self.detail}"


class ChainWalk:
    """Feeds rows in seq order; the first break found, if any. Pure, so the CLI and tests share
    the rules and a million rows stream through in constant memory."""

    def __init__(self) -> None:
        self.seq = 0
        self.hash = GENESIS_HASH
        self.rows = 0

    def feed(self, record: AuditRecord, stored_hash: str) -> ChainBreak | None:
        expected = self.seq + 1
        if record.seq != expected:
            return ChainBreak(
                expected, "seq_gap", f"the next row is {record.seq}: rows are missing"
            )
        if record.prev_hash != self.hash:
            return ChainBreak(
                record.seq,
                "prev_hash_mismatch",
                f"prev_hash {record.prev_hash[:16]}... does not match row {self.seq}'s hash",
            )
        computed = record.digest()
        if computed != stored_hash:
            return ChainBreak(
                record.seq,
                "hash_mismatch",
                "the row's content does not match its stored hash: it was changed",
            )
        self.seq, self.hash, self.rows = record.seq, stored_hash, self.rows + 1
        return None

    def finish(self, head_seq: int, head_hash: str) -> ChainBreak | None:
        """The chain head must point at the last row: a missing tail shows here."""
        if head_seq != self.seq or head_hash != self.hash:
            return ChainBreak(
                self.seq + 1,
                "head_mismatch",
                f"the chain head is at seq {head_seq} but the last row is {self.seq}: "
                "rows at the end were removed (or the head was moved)",
            )
        return None
