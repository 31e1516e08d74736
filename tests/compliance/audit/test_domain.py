"""The audit chain's pure rules: canonical serialisation, hashes, the walk, jsonable, diff."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.compliance.audit.domain import (
    GENESIS_HASH,
    REDACTED,
    AuditRecord,
    ChainWalk,
    diff,
    format_time,
    jsonable,
)

AT = datetime(2026, 11, 25, 12, 30, 0, 123456, tzinfo=UTC)
ACTOR = uuid.UUID("00000000-0000-4000-8000-000000000001")


def record(seq: int = 1, prev_hash: str = GENESIS_HASH, **changes: object) -> AuditRecord:
    base = AuditRecord(
        seq=seq,
        occurred_at=AT,
        actor_user_id=ACTOR,
        actor_role="admin",
        country="KE",
        action="sportsbook.event.suspend",
        target_type="event",
        target_id="42",
        before={"status": "scheduled"},
        after={"status": "suspended", "markets": {"7": {"status": "suspended"}}},
        request_id="req-1",
        client_ip="10.0.0.1",
        prev_hash=prev_hash,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def chain(n: int) -> list[tuple[AuditRecord, str]]:
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        row = record(seq, prev, target_id=str(seq))
        rows.append((row, row.digest()))
        prev = row.digest()
    return rows


def test_canonical_form_is_exactly_the_documented_one() -> None:
    body = (
        '{"action":"sportsbook.event.suspend","actor_role":"admin",'
        f'"actor_user_id":"{ACTOR}","after":{{"markets":{{"7":{{"status":"suspended"}}}},'
        '"status":"suspended"},"before":{"status":"scheduled"},"client_ip":"10.0.0.1",'
        '"country":"KE","occurred_at":"2026-11-25T12:30:00.123456Z",'
        f'"prev_hash":"{GENESIS_HASH}","request_id":"req-1","seq":1,'
        '"target_id":"42","target_type":"event","v":1}'
    )
    assert record().canonical() == body.encode("ascii")
    assert record().digest() == hashlib.sha256(body.encode()).hexdigest()


def test_an_auditor_recomputes_the_hash_with_the_standard_library() -> None:
    row = record(after={"name": "Gor Mahia v AFC Leopards \u26bd", "n": 10**15})
    rebuilt = json.loads(row.canonical())
    again = json.dumps(rebuilt, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert hashlib.sha256(again.encode("ascii")).hexdigest() == row.digest()
    assert b"\\u26bd" in row.canonical()  # non-ASCII escaped


def test_times_are_utc_with_six_fraction_digits() -> None:
    eat = timezone(timedelta(hours=3))
    assert format_time(datetime(2026, 1, 1, 3, 0, tzinfo=eat)) == "2026-01-01T00:00:00.000000Z"
    with pytest.raises(ValueError, match="aware"):
        format_time(datetime(2026, 1, 1))


def test_a_sound_chain_walks_to_its_head() -> None:
    walk = ChainWalk()
    rows = chain(5)
    assert all(walk.feed(row, digest) is None for row, digest in rows)
    assert walk.finish(5, rows[-1][1]) is None
    assert walk.rows == 5


@pytest.mark.parametrize(
    "field,value",
    [
        ("after", {"status": "scheduled"}),
        ("before", None),
        ("actor_user_id", uuid.UUID(int=7)),
        ("actor_role", "compliance"),
        ("action", "sportsbook.event.unsuspend"),
        ("target_id", "43"),
        ("occurred_at", AT + timedelta(microseconds=1)),
        ("request_id", None),
        ("client_ip", "10.0.0.2"),
        ("country", "NG"),
    ],
)
def test_any_changed_field_is_named_at_its_row(field: str, value: object) -> None:
    rows = chain(4)
    row, digest = rows[2]
    rows[2] = (dataclasses.replace(row, **{field: value}), digest)  # type: ignore[arg-type]
    walk = ChainWalk()
    breaks = [walk.feed(r, d) for r, d in rows]
    broken = next(b for b in breaks if b is not None)
    assert (broken.seq, broken.reason) == (3, "hash_mismatch")
    assert "seq 3" in broken.line()


def test_a_rewritten_row_with_a_fresh_hash_breaks_the_next_link() -> None:
    rows = chain(4)
    forged = dataclasses.replace(rows[1][0], after={"status": "open"})
    rows[1] = (forged, forged.digest())
    walk = ChainWalk()
    breaks = [walk.feed(r, d) for r, d in rows]
    broken = next(b for b in breaks if b is not None)
    assert (broken.seq, broken.reason) == (3, "prev_hash_mismatch")


def test_deleted_rows_and_a_cut_tail_are_named() -> None:
    rows = chain(5)
    walk = ChainWalk()
    assert walk.feed(*rows[0]) is None
    gap = walk.feed(*rows[2])
    assert gap is not None and (gap.seq, gap.reason) == (2, "seq_gap")

    walk = ChainWalk()
    for row in rows[:3]:
        assert walk.feed(*row) is None
    cut = walk.finish(5, rows[-1][1])
    assert cut is not None and (cut.seq, cut.reason) == (4, "head_mismatch")


def test_jsonable_redacts_secrets_and_refuses_floats() -> None:
    value = {
        "password": "hunter22",
        "Password_Hash": "$argon2id$...",
        "nested": [{"refresh_token": "abc", "amount": Decimal("1.50")}],
        "day": date(2025, 7, 1),
        "at": AT,
        "id": ACTOR,
        7: True,
    }
    assert jsonable(value) == {
        "password": REDACTED,
        "Password_Hash": REDACTED,
        "nested": [{"refresh_token": REDACTED, "amount": "1.50"}],
        "day": "2025-07-01",
        "at": "2026-11-25T12:30:00.123456Z",
        "id": str(ACTOR),
        "7": True,
    }
    with pytest.raises(TypeError):
        jsonable({"odds": 2.5})
    with pytest.raises(ValueError, match="NUL"):
        jsonable("a\x00b")


def test_diff_keeps_only_what_changed() -> None:
    before = {"status": "open", "markets": {"1": {"status": "open", "odds": 2000}}, "gone": 1}
    after = {"status": "open", "markets": {"1": {"status": "open", "odds": 2100}}, "new": 2}
    assert diff(before, after) == (
        {"gone": 1, "markets": {"1": {"odds": 2000}}},
        {"new": 2, "markets": {"1": {"odds": 2100}}},
    )
    assert diff(None, {"a": 1}) == (None, {"a": 1})
    assert diff({"a": 1}, {"a": 1}) == ({}, {})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**18), 10**18) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(before=json_values, after=json_values)
def test_hash_is_stable_through_a_json_round_trip(before: object, after: object) -> None:
    """What jsonb gives back (parsed JSON) hashes as what was written."""
    try:
        clean_before, clean_after = jsonable(before), jsonable(after)
    except ValueError:  # a NUL in generated text
        return
    row = record(before=clean_before, after=clean_after)
    back = record(
        before=json.loads(json.dumps(clean_before)), after=json.loads(json.dumps(clean_after))
    )
    assert back.digest() == row.digest()
