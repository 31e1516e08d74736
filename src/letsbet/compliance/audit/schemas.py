from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditActorOut(BaseModel):
    user_id: uuid.UUID | None
    role: str


class AuditTargetOut(BaseModel):
    type: str
    id: str


class AuditEntryOut(BaseModel):
    seq: int
    occurred_at: datetime
    actor: AuditActorOut
    country: str
    action: str
    target: AuditTargetOut
    before: Any
    after: Any
    request_id: str | None
    client_ip: str | None
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None
