"""KYC rules, pure: what a Smile ID result means for the check and for the player's status."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from letsbet.compliance.kyc.wire import Outcome, Result, dob_matches, names_match
from letsbet.errors import Conflict, LetsbetError, Unauthorized, Unprocessable


class KycStatus(StrEnum):
    UNVERIFIED = "unverified"
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    NEEDS_REVIEW = "needs_review"


class KycIdTypeUnsupported(Unprocessable):
    code = "kyc_id_type_unsupported"


class KycIdNumberInvalid(Unprocessable):
    code = "kyc_id_number_invalid"


class KycAlreadyVerified(Conflict):
    code = "kyc_already_verified"
    message = "This account is verified already."


class KycInProgress(Conflict):
    code = "kyc_in_progress"
    message = "A verification is already running for this account; wait for its result."


class KycAuthorityUnavailable(LetsbetError):
    status_code = 503
    code = "kyc_authority_unavailable"
    message = "The ID authority is not answering right now; try again later."


class KycProviderError(LetsbetError):
    status_code = 502
    code = "kyc_provider_error"
    message = "Identity verification failed on the provider's side; try again later."


class KycSignatureInvalid(Unauthorized):
    code = "invalid_signature"
    message = "The signature does not verify."


@dataclass(frozen=True, slots=True)
class Verdict:
    check_status: str  # verified | rejected | needs_review | retry | error
    user_status: KycStatus | None  # None: back to what it was before the check
    name_match: bool | None
    dob_match: bool | None


def judge(result: Result, *, first_name: str | None, last_name: str | None, dob: date) -> Verdict:
    """A validated id is not enough: the name and date of birth the authority holds must be the
    profile's, or a person reviews it (someone may be using another's id number)."""
    if result.outcome == Outcome.VERIFIED:
        name_ok = names_match(result.full_name, first_name, last_name)
        dob_ok = dob_matches(result.dob, dob)
        if name_ok and dob_ok:
            return Verdict("verified", KycStatus.VERIFIED, True, True)
        return Verdict("needs_review", KycStatus.NEEDS_REVIEW, name_ok, dob_ok)
    if result.outcome == Outcome.PARTIAL:
        return Verdict("needs_review", KycStatus.NEEDS_REVIEW, None, None)
    if result.outcome == Outcome.NOT_VERIFIED:
        return Verdict("rejected", KycStatus.REJECTED, None, None)
    if result.outcome == Outcome.RETRY:
        return Verdict("retry", None, None, None)
    return Verdict("error", None, None, None)


def id_number_hash(key: str, country: str, id_type: str, id_number: str) -> str:
    """Keyed (HMAC) so the table alone does not reveal which ids were checked."""
    message = f"{country}:{id_type}:{id_number.upper()}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def tail(id_number: str) -> str:
    return "*" * max(0, len(id_number) - 3) + id_number[-3:]
