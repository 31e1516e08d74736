"""Smile ID wire rules, pure: the signature, the request body, result codes, name matching."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime

import pytest

from letsbet.compliance.kyc import wire
from letsbet.compliance.kyc.domain import KycStatus, judge
from letsbet.tenants import get_tenant

NOW = datetime(2026, 3, 1, 8, 30, 15, 123000, tzinfo=UTC)


def test_signature_is_hmac_sha256_of_timestamp_partner_and_sid_request() -> None:
    timestamp = "2026-03-01T08:30:15.123Z"
    expected = base64.b64encode(
        hmac.new(b"key", f"{timestamp}2205sid_request".encode(), hashlib.sha256).digest()
    ).decode()
    assert wire.sign("key", "2205", timestamp) == expected
    assert wire.signature_valid("key", "2205", timestamp, expected)
    assert not wire.signature_valid("other", "2205", timestamp, expected)
    assert not wire.signature_valid("key", "2206", timestamp, expected)
    assert not wire.signature_valid("key", "2205", "2026-03-01T08:30:16.000Z", expected)
    assert not wire.signature_valid("key", "2205", None, expected)
    assert not wire.signature_valid("key", "2205", timestamp, 12)


def test_request_body_carries_the_signature_and_partner_params() -> None:
    request = wire.IdRequest(
        "KE", "NATIONAL_ID", "12345678", "Wanjiru", "Kamau", date(1991, 4, 12), "job1", "u1"
    )
    body = wire.request_body(
        request, partner_id="2205", api_key="k", now=NOW, callback_url="https://x/cb"
    )
    assert body["timestamp"] == "2026-03-01T08:30:15.123Z"
    assert body["signature"] == wire.sign("k", "2205", body["timestamp"])
    assert body["partner_params"] == {"job_id": "job1", "user_id": "u1", "job_type": 5}
    assert (body["dob"], body["callback_url"], body["source_sdk"]) == (
        "1991-04-12",
        "https://x/cb",
        "rest_api",
    )


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("1012", wire.Outcome.VERIFIED),
        ("1013", wire.Outcome.NOT_VERIFIED),
        ("1014", wire.Outcome.UNSUPPORTED),
        ("1015", wire.Outcome.RETRY),
        ("1016", wire.Outcome.NOT_ENABLED),
        ("1020", wire.Outcome.VERIFIED),
        ("1021", wire.Outcome.PARTIAL),
        ("1022", wire.Outcome.NOT_VERIFIED),
        ("1023", wire.Outcome.NOT_VERIFIED),
        ("2204", wire.Outcome.ERROR),
        ("2205", wire.Outcome.ERROR),
        ("2213", wire.Outcome.ERROR),
        ("2215", wire.Outcome.ERROR),
        ("9999", wire.Outcome.ERROR),
    ],
)
def test_result_codes(code: str, outcome: wire.Outcome) -> None:
    result = wire.parse_result({"ResultCode": code, "PartnerParams": {"job_id": "j"}})
    assert result.outcome == outcome


def test_a_result_needs_a_code_and_a_job() -> None:
    for body in ([], {"ResultCode": "1012"}, {"PartnerParams": {"job_id": "j"}}):
        with pytest.raises(ValueError):
            wire.parse_result(body)


@pytest.mark.parametrize(
    ("returned", "ok"),
    [
        ("KAMAU WANJIRU", True),
        ("wanjiru kamau", True),
        ("Kamau, Wanjiru Njeri", True),  # a middle name on the register
        ("KAMAU WANJIRÚ", True),
        ("KAMAU", False),
        ("OTIENO BRIAN", False),
        (None, False),
    ],
)
def test_names_match_tolerates_order_case_and_accents(returned: str | None, ok: bool) -> None:
    assert wire.names_match(returned, "Wanjiru", "Kamau") is ok


def test_dob_formats() -> None:
    born = date(1991, 4, 12)
    assert wire.dob_matches("1991-04-12", born) and wire.dob_matches("12/04/1991", born)
    assert not wire.dob_matches("1991-04-13", born) and not wire.dob_matches("Not Available", born)


def _result(code: str, name: str = "KAMAU WANJIRU", dob: str = "1991-04-12") -> wire.Result:
    return wire.parse_result(
        {"ResultCode": code, "PartnerParams": {"job_id": "j"}, "FullName": name, "DOB": dob}
    )


def test_judge_turns_results_into_statuses() -> None:
    profile = {"first_name": "Wanjiru", "last_name": "Kamau", "dob": date(1991, 4, 12)}
    assert judge(_result("1012"), **profile).user_status == KycStatus.VERIFIED
    mismatch = judge(_result("1012", name="OTIENO BRIAN"), **profile)
    assert (mismatch.user_status, mismatch.name_match, mismatch.dob_match) == (
        KycStatus.NEEDS_REVIEW,
        False,
        True,
    )
    assert judge(_result("1012", dob="1970-01-01"), **profile).user_status == KycStatus.NEEDS_REVIEW
    assert judge(_result("1021"), **profile).user_status == KycStatus.NEEDS_REVIEW
    assert judge(_result("1013"), **profile).user_status == KycStatus.REJECTED
    assert judge(_result("1022"), **profile).user_status == KycStatus.REJECTED
    for code in ("1014", "1015", "1016", "2213"):
        assert judge(_result(code), **profile).user_status is None  # back to where it was


@pytest.mark.parametrize(
    ("country", "id_type", "number", "ok"),
    [
        ("KE", "NATIONAL_ID", "12345678", True),
        ("KE", "NATIONAL_ID", "1234567890", False),
        ("KE", "ALIEN_CARD", "12345", False),
        ("KE", "PASSPORT", "AK1234567", True),
        ("KE", "PASSPORT", "ak1234567", False),
        ("NG", "BVN", "22212345678", True),
        ("NG", "BVN", "2221234567", False),
        ("NG", "NIN", "12345678901", True),
        ("NG", "NIN_V2", "1234567890A", False),
        ("GH", "NATIONAL_ID", "GHA-123456789-1", True),
        ("GH", "NATIONAL_ID", "GHA-12345678-1", False),
        ("GH", "NATIONAL_ID", "123456789", False),
        ("GH", "BVN", "22212345678", False),
    ],
)
def test_id_formats_per_country(country: str, id_type: str, number: str, ok: bool) -> None:
    assert get_tenant(country).id_number_valid(id_type, number) is ok
