"""Pure account rules: phone numbers, age, tokens. No I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.accounts.domain import (
    InvalidPhone,
    Role,
    Underage,
    age_on,
    normalise_phone,
    require_adult,
)
from letsbet.accounts.tokens import InvalidToken, TokenExpired, TokenSigner
from letsbet.tenants import TENANTS, get_tenant
from tests.support import poll_until

KE, NG, GH = (TENANTS[c] for c in ("KE", "NG", "GH"))


@pytest.mark.parametrize(
    ("raw", "tenant", "e164"),
    [
        ("0712 345 678", KE, "+254712345678"),
        ("+254 712 345 678", KE, "+254712345678"),
        ("254712345678", KE, "+254712345678"),
        ("0110123456", KE, "+254110123456"),
        ("0803 123 4567", NG, "+2348031234567"),
        ("024 412 3456", GH, "+233244123456"),
    ],
)
def test_phones_normalise_to_e164(raw: str, tenant: object, e164: str) -> None:
    assert normalise_phone(raw, tenant) == e164  # type: ignore[arg-type]


@given(st.sampled_from(["KE", "NG", "GH"]), st.integers(min_value=0, max_value=10**6))
def test_normalising_is_idempotent(country: str, salt: int) -> None:
    tenant = get_tenant(country)
    example = phonenumbers.example_number_for_type(
        tenant.phone_region, phonenumbers.PhoneNumberType.MOBILE
    )
    assert example is not None
    e164 = normalise_phone(
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL), tenant
    )
    assert normalise_phone(e164, tenant) == e164
    assert e164.startswith(f"+{tenant.dialing_code}")


@given(st.text(max_size=25))
def test_garbage_never_crashes_only_invalid_phone(raw: str) -> None:
    try:
        result = normalise_phone(raw, KE)
    except InvalidPhone:
        return
    assert result.startswith("+254")


def test_another_countrys_number_is_refused() -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone("+2348031234567", KE)


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)),
)
def test_age_is_whole_years_and_grows_by_one_a_year(born: date, today: date) -> None:
    age = age_on(born, today)
    assert age in (today.year - born.year, today.year - born.year - 1)
    next_year = (
        today.replace(year=today.year + 1)
        if (today.month, today.day) != (2, 29)
        else (date(today.year + 1, 3, 1))
    )
    assert age_on(born, next_year) in (age + 1, age + 2)


def test_eighteenth_birthday_is_the_line() -> None:
    today = date(2026, 11, 25)
    require_adult(date(2008, 11, 25), today, KE)
    with pytest.raises(Underage):
        require_adult(date(2008, 11, 26), today, KE)
    with pytest.raises(Underage):
        require_adult(date(2030, 1, 1), today, KE)


def _signer(secret: str = "s" * 40) -> TokenSigner:
    return TokenSigner(
        secret=secret,
        issuer="letsbet",
        audience="letsbet-api",
        access_ttl=timedelta(minutes=15),
        refresh_ttl=timedelta(days=30),
    )


@given(st.uuids(), st.sampled_from(list(Role)), st.sampled_from(["KE", "NG", "GH"]))
def test_access_tokens_round_trip(user_id: uuid.UUID, role: Role, country: str) -> None:
    signer = _signer()
    token = signer.access_token(user_id=user_id, role=role, country=country, now=datetime.now(UTC))
    principal = signer.verify_access(token)
    assert (principal.user_id, principal.role, principal.country) == (user_id, role, country)
    with pytest.raises(InvalidToken):
        signer.verify_refresh(token)


def test_token_tampering_and_expiry() -> None:
    signer = _signer()
    token = signer.access_token(
        user_id=uuid.uuid4(), role=Role.PLAYER, country="KE", now=datetime.now(UTC)
    )
    head, body, sig = token.split(".")
    with pytest.raises(InvalidToken):
        signer.verify_access(f"{head}.{body}x.{sig}")
    with pytest.raises(InvalidToken):
        _signer("t" * 40).verify_access(token)
    old = signer.access_token(
        user_id=uuid.uuid4(),
        role=Role.PLAYER,
        country="KE",
        now=datetime.now(UTC) - timedelta(minutes=16),
    )
    with pytest.raises(TokenExpired):
        signer.verify_access(old)


def test_tenants_are_complete_and_consistent() -> None:
    for code, tenant in TENANTS.items():
        assert tenant.code == code and tenant.minor_units == 2 and tenant.min_age == 18
        assert tenant.min_stake < tenant.max_stake and tenant.min_deposit < tenant.max_deposit
        assert tenant.kyc_id_types and tenant.tax_regime_ids
    assert {t.currency for t in TENANTS.values()} == {"KES", "NGN", "GHS"}
    assert KE.id_number_valid("NATIONAL_ID", "12345678")
    assert not KE.id_number_valid("NATIONAL_ID", "1234567890")
    assert NG.id_number_valid("BVN", "12345678901")
    assert GH.id_number_valid("NATIONAL_ID", "GHA-123456789-0")
    assert not GH.id_number_valid("NATIONAL_ID", "GHA-12345678-0")


async def test_a_verified_token_is_remembered_until_it_expires_and_only_under_its_key() -> None:
    signer = _signer()
    now = datetime.now(UTC)
    # Minted so that it expires within the next two seconds.
    token = signer.access_token(
        user_id=uuid.uuid4(),
        role=Role.PLAYER,
        country="KE",
        now=now - timedelta(minutes=15) + timedelta(seconds=2),
    )
    first = signer.verify_access(token)
    assert signer.verify_access(token) is first  # answered from the cache
    with pytest.raises(InvalidToken):  # another key: never from the cache
        _signer("t" * 40).verify_access(token)

    async def expired() -> bool:
        try:
            signer.verify_access(token)
        except TokenExpired:
            return True
        return False

    await poll_until(expired, timeout=5)
    with pytest.raises(TokenExpired):
        signer.verify_access(token)
