"""Pure account rules: phone numbers, age, roles. No I/O."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import phonenumbers

from letsbet.errors import Unprocessable
from letsbet.tenants import Tenant


class Role(StrEnum):
    PLAYER = "player"
    ADMIN = "admin"
    COMPLIANCE = "compliance"


class InvalidPhone(Unprocessable):
    code = "invalid_phone"


class Underage(Unprocessable):
    code = "underage"


def normalise_phone(raw: str, tenant: Tenant) -> str:
    """A phone valid in the tenant's country, in E.164 (+2547XXXXXXXX); local forms accepted."""
    try:
        number = phonenumbers.parse(raw, tenant.phone_region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(f"{raw!r} is not a phone number.") from None
    if number.country_code != tenant.dialing_code or not phonenumbers.is_valid_number(number):
        raise InvalidPhone(
            f"Enter a valid {tenant.name} mobile number (+{tenant.dialing_code}...)."
        )
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidPhone(f"Enter a {tenant.name} mobile number; payments need one.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def require_adult(born: date, today: date, tenant: Tenant) -> None:
    if born > today:
        raise Underage("Date of birth is in the future.")
    if age_on(born, today) < tenant.min_age:
        raise Underage(f"You must be {tenant.min_age} or older to play.")
    if age_on(born, today) > 120:
        raise Underage("Date of birth is not plausible.")
