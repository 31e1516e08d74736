"""Smile ID v1 Enhanced KYC on the wire, pure: signatures, request bodies, results.

Signature (Smile ID "signature" scheme, v1 API): base64(HMAC-SHA256(key = API key,
message = timestamp + partner_id + "sid_request")) with an ISO-8601 timestamp; both travel in
the JSON body. Smile signs its responses and callbacks the same way, so we verify them with
the same function. Endpoints: POST /v1/id_verification (synchronous) and
POST /v1/async_id_verification (answers {"success": true}; the result comes to callback_url).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

SYNC_PATH = "/v1/id_verification"
ASYNC_PATH = "/v1/async_id_verification"
JOB_TYPE_ENHANCED_KYC = 5
SOURCE_SDK = "rest_api"
SOURCE_SDK_VERSION = "1.0.0"


def sign(api_key: str, partner_id: str, timestamp: str) -> str:
    message = f"{timestamp}{partner_id}sid_request".encode()
    return base64.b64encode(hmac.new(api_key.encode(), message, hashlib.sha256).digest()).decode()


def signature_valid(api_key: str, partner_id: str, timestamp: Any, signature: Any) -> bool:
    if not isinstance(timestamp, str) or not isinstance(signature, str) or not timestamp:
        return False
    return hmac.compare_digest(sign(api_key, partner_id, timestamp), signature)


def timestamp_of(now: datetime) -> str:
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class IdRequest:
    country: str
    id_type: str
    id_number: str
    first_name: str | None
    last_name: str | None
    dob: date | None
    job_id: str
    user_id: str


def request_body(
    request: IdRequest,
    *,
    partner_id: str,
    api_key: str,
    now: datetime,
    callback_url: str | None = None,
) -> dict[str, Any]:
    timestamp = timestamp_of(now)
    body: dict[str, Any] = {
        "partner_id": partner_id,
        "timestamp": timestamp,
        "signature": sign(api_key, partner_id, timestamp),
        "source_sdk": SOURCE_SDK,
        "source_sdk_version": SOURCE_SDK_VERSION,
        "country": request.country,
        "id_type": request.id_type,
        "id_number": request.id_number,
        "partner_params": {
            "job_id": request.job_id,
            "user_id": request.user_id,
            "job_type": JOB_TYPE_ENHANCED_KYC,
        },
    }
    if request.first_name:
        body["first_name"] = request.first_name
    if request.last_name:
        body["last_name"] = request.last_name
    if request.dob:
        body["dob"] = request.dob.isoformat()
    if callback_url:
        body["callback_url"] = callback_url
    return body


class Outcome(StrEnum):
    VERIFIED = "verified"  # the authority confirmed the id (names still to match)
    PARTIAL = "partial"  # basic KYC partial match: a person decides
    NOT_VERIFIED = "not_verified"  # the id does not validate
    RETRY = "retry"  # the authority is down: try later
    UNSUPPORTED = "unsupported"  # the id type/format is not supported
    NOT_ENABLED = "not_enabled"  # our Smile ID account lacks the product
    ERROR = "error"  # a request or account error (2xxx)


# ResultCode → outcome (Smile ID result codes for ID verification and basic KYC).
RESULT_CODES: dict[str, tuple[Outcome, str]] = {
    "1012": (Outcome.VERIFIED, "ID number validated"),
    "1013": (Outcome.NOT_VERIFIED, "Unable to validate the ID: not found or invalid"),
    "1014": (Outcome.UNSUPPORTED, "Unsupported ID number format"),
    "1015": (Outcome.RETRY, "The ID authority is unavailable; try again later"),
    "1016": (Outcome.NOT_ENABLED, "ID verification is not enabled for this partner"),
    "1020": (Outcome.VERIFIED, "Exact match"),
    "1021": (Outcome.PARTIAL, "Partial match"),
    "1022": (Outcome.NOT_VERIFIED, "No match"),
    "1023": (Outcome.NOT_VERIFIED, "ID number not found"),
}
# Error codes (the request itself was refused).
ERROR_CODES: dict[str, str] = {
    "2204": "Unauthorized: the signature or partner credentials were refused",
    "2205": "Not authorized for this product or id type",
    "2213": "A required parameter is missing or invalid",
    "2215": "This job id was used before",
}


@dataclass(frozen=True, slots=True)
class Result:
    job_id: str
    smile_job_id: str | None
    code: str
    text: str
    outcome: Outcome
    full_name: str | None
    dob: str | None
    actions: dict[str, Any]
    raw: dict[str, Any]


def parse_result(body: Any) -> Result:
    """A sync answer or an async callback; raises ValueError when it is not a result."""
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    code = str(body.get("ResultCode") or body.get("code") or "")
    params = body.get("PartnerParams") or {}
    job_id = params.get("job_id") if isinstance(params, dict) else None
    if not code or not isinstance(job_id, str):
        raise ValueError("no ResultCode or PartnerParams.job_id")
    if code in RESULT_CODES:
        outcome, text = RESULT_CODES[code]
    elif code in ERROR_CODES:
        outcome, text = Outcome.ERROR, ERROR_CODES[code]
    else:
        outcome, text = Outcome.ERROR, "Unknown result code"
    actions = body.get("Actions") if isinstance(body.get("Actions"), dict) else {}
    return Result(
        job_id=job_id,
        smile_job_id=str(body["SmileJobID"]) if body.get("SmileJobID") else None,
        code=code,
        text=str(body.get("ResultText") or body.get("error") or text),
        outcome=outcome,
        full_name=_text(body.get("FullName")),
        dob=_text(body.get("DOB")),
        actions=actions or {},
        raw=body,
    )


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or value.strip().lower() == "not available":
        return None
    return value.strip()


def _tokens(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    cleaned = "".join(c if c.isalnum() else " " for c in folded)
    return sorted(cleaned.split())


def names_match(returned: str | None, first_name: str | None, last_name: str | None) -> bool:
    """The authority's full name against the profile, tolerant of order, case, accents and
    punctuation: every profile name must appear in the returned one (which may add middle
    names, as ID registers often do)."""
    if not returned:
        return False
    wanted = _tokens(f"{first_name or ''} {last_name or ''}")
    have = _tokens(returned)
    return bool(wanted) and all(token in have for token in wanted)


def dob_matches(returned: str | None, profile: date) -> bool:
    """Smile returns YYYY-MM-DD (sometimes DD/MM/YYYY); anything else does not match."""
    if not returned:
        return False
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(returned[:10], fmt).date() == profile
        except ValueError:
            continue
    return False
