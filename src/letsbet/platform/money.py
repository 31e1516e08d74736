"""Money: integer minor units plus an ISO 4217 currency. No float ever computes, stores or
serialises an amount (BRIEF, "Rules of money").

    Money(10050, "KES")                         # KES 100.50
    Money.parse("100.50", "KES")                # API input, in major units
    Money.parse(amount, "KES").format()         # "100.50"
    MoneyOut.of(money)                          # {"amount": "100.50", "currency": "KES"}

Errors:
    InvalidAmount(Unprocessable)     422 invalid_amount    the player sent a bad amount
    UnknownCurrency(Unprocessable)   422 unknown_currency  a currency letsbet does not handle
    CurrencyMismatch(ValueError)     a bug: arithmetic or comparison across two currencies

Request bodies declare amounts as `MajorAmount` (a JSON string like "100.50" or a JSON integer);
the service turns them into `Money` with `to_money` once it knows the player's currency, which is
where the currency's own number of decimals is enforced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from letsbet.errors import Unprocessable

# ISO 4217 code → number of minor units (decimals). The tenants' currencies; a new country adds
# its currency here (tests check every tenant's currency is listed with the same minor units).
CURRENCIES: dict[str, int] = {"KES": 2, "NGN": 2, "GHS": 2}

# The largest magnitude any single amount may have, in minor units: 10^13 major units (ten
# trillion shillings), far above any real stake, payout or deposit, yet far below PostgreSQL's
# BIGINT (9.2 * 10^18), so ledger sums of thousands of maximal amounts cannot overflow a column,
# and below 2^53, so even a client that reads the integer into a double loses nothing.
MAX_AMOUNT_MINOR: int = 10**15

# What a request body may carry before the currency is known: the most decimals any currency has.
MAX_INPUT_DECIMALS: int = max(CURRENCIES.values())

# ASCII digits only: `\d` would also match Arabic-Indic and other Unicode digits.
_AMOUNT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NOT_A_NUMBER = 'Amount must be a number like "100.50".'
_FLOAT = 'Send amounts as strings like "100.50", not as floating-point numbers.'
_TOO_LARGE = "Amount is too large."


class InvalidAmount(Unprocessable):
    code = "invalid_amount"
    message = "The amount is not valid."


class UnknownCurrency(Unprocessable):
    code = "unknown_currency"
    message = "letsbet does not handle this currency."


class CurrencyMismatch(ValueError):
    """Amounts in two currencies were added, subtracted or compared: a bug, never player input."""

    def __init__(self, left: str, right: str) -> None:
        self.left = left
        self.right = right
        super().__init__(f"cannot combine {left} with {right}")

    def __repr__(self) -> str:
        return f"CurrencyMismatch(left={self.left!r}, right={self.right!r})"


def minor_units(currency: str) -> int:
    """The currency's number of decimals; UnknownCurrency for a currency letsbet does not handle."""
    places = CURRENCIES.get(currency) if isinstance(currency, str) else None
    if places is None:
        known = ", ".join(CURRENCIES)
        raise UnknownCurrency(f"Unknown currency {currency!r}; letsbet handles {known}.")
    return places


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An exact amount: `minor` units (cents) of `currency`.

    Equality and hashing compare both fields (KES 0 != NGN 0). Arithmetic and ordering work only
    within one currency and raise CurrencyMismatch otherwise. Truth-testing raises TypeError:
    `if stake:` would be true for a zero amount (the dataclass default) or mean "non-zero" to one
    reader and "not None" to another; say `is_zero()`, `is_positive()` or `is not None`.
    Sum with an explicit start: `sum(amounts, Money.zero("KES"))`.
    """

    minor: int
    currency: str

    def __post_init__(self) -> None:
        minor_units(self.currency)
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError(f"Money.minor must be an int of minor units, not {self.minor!r}")
        if abs(self.minor) > MAX_AMOUNT_MINOR:
            raise InvalidAmount(_TOO_LARGE)

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(minor, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(
        cls,
        value: str | int | Decimal,
        currency: str,
        *,
        allow_zero: bool = False,
        allow_negative: bool = False,
    ) -> Money:
        """An amount given in major units ("100.50", 100, Decimal("100.50")) as Money.

        Strings must match -?DIGITS(.DIGITS)? exactly: no spaces, signs other than a leading
        minus, exponents or thousands separators. Floats are refused (a float has already lost
        the exact value). More decimals than the currency has, an amount beyond
        MAX_AMOUNT_MINOR and, unless allowed, zero or negative amounts raise InvalidAmount.
        """
        places = minor_units(currency)
        minor = _to_minor(_exact(value, places), places)
        if minor == 0 and not allow_zero:
            raise InvalidAmount(
                "Amount must not be zero."
                if allow_negative
                else "Amount must be greater than zero."
            )
        if minor < 0 and not allow_negative:
            raise InvalidAmount(
                "Amount must not be negative."
                if allow_zero
                else "Amount must be greater than zero."
            )
        return cls(minor, currency)

    def format(self) -> str:
        """The amount in major units as a decimal string: "100.50", "-0.05", "0.00"."""
        places = CURRENCIES[self.currency]
        sign = "-" if self.minor < 0 else ""
        whole, fraction = divmod(abs(self.minor), 10**places)
        return f"{sign}{whole}.{fraction:0{places}d}" if places else f"{sign}{whole}"

    def to_json(self) -> dict[str, str]:
        return {"amount": self.format(), "currency": self.currency}

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_positive(self) -> bool:
        return self.minor > 0

    def is_negative(self) -> bool:
        return self.minor < 0

    def __str__(self) -> str:
        return f"{self.format()} {self.currency}"

    def __bool__(self) -> bool:
        raise TypeError("Money has no truth value; use is_zero(), is_positive() or is not None")

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self.minor + self._same(other), self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self.minor - self._same(other), self.currency)

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.minor < self._same(other)

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.minor <= self._same(other)

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.minor > self._same(other)

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.minor >= self._same(other)

    def _same(self, other: Money) -> int:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)
        return other.minor


def _decimals_message(places: int) -> str:
    if places == 0:
        return "Amount must be a whole number."
    return f"Amount must have at most {places} decimal{'s' if places > 1 else ''}."


def _exact(value: object, places: int) -> Decimal:
    """`value` as an exact finite Decimal with at most `places` decimals, or InvalidAmount."""
    if isinstance(value, bool):
        raise InvalidAmount(_NOT_A_NUMBER)
    if isinstance(value, float):
        raise InvalidAmount(_FLOAT)
    if isinstance(value, int):
        return Decimal(value)  # exact for any int; the bound is checked later
    if isinstance(value, str):
        if _AMOUNT.fullmatch(value) is None:
            raise InvalidAmount(_NOT_A_NUMBER)
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidAmount(_NOT_A_NUMBER)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite Decimals have an integer exponent
    if -exponent > places:
        raise InvalidAmount(_decimals_message(places))
    return value


def _to_minor(value: Decimal, places: int) -> int:
    """Minor units of an exact Decimal with at most `places` decimals, in integer arithmetic only.

    Decimal's context (precision, rounding) is never consulted: comparison and copy_abs are
    exact, and the conversion works on the digits themselves.
    """
    if value.is_zero():
        return 0
    if value.copy_abs() > Decimal(f"{MAX_AMOUNT_MINOR}e-{places}"):
        raise InvalidAmount(_TOO_LARGE)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    coefficient = int("".join(map(str, digits)))  # at most 16 digits after the bound check
    minor: int = coefficient * 10 ** (exponent + places)
    return -minor if sign else minor


def _validate_major_amount(value: object) -> Decimal:
    try:
        return _exact(value, MAX_INPUT_DECIMALS)
    except InvalidAmount as exc:
        # A ValueError inside a validator becomes FastAPI's ordinary 422 validation error.
        raise ValueError(exc.message) from None


def _serialize_major_amount(value: Decimal) -> str:
    return format(value, "f")  # positional notation, never "1E+3"


_MAJOR_AMOUNT_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": rf"^-?[0-9]+(\.[0-9]{{1,{MAX_INPUT_DECIMALS}}})?$"},
        {"type": "integer"},
    ],
    "description": 'An amount in major units: a string like "100.50" or an integer.',
    "examples": ["100.50"],
}

# A request amount in major units: a JSON string ("100.50") or a JSON integer (100). JSON numbers
# with a fraction or an exponent (100.5, 100.0, 1e3) are refused: the JSON parser has already made
# them binary floats, and 100.000000000000001 arrives as 100.0. At most MAX_INPUT_DECIMALS
# decimals here; the currency's own limit, the bound and the sign are checked by `to_money`.
MajorAmount = Annotated[
    Decimal,
    PlainValidator(_validate_major_amount),
    PlainSerializer(_serialize_major_amount, return_type=str, when_used="json"),
    WithJsonSchema(_MAJOR_AMOUNT_SCHEMA, mode="validation"),
]


def to_money(
    amount: Decimal, currency: str, *, allow_zero: bool = False, allow_negative: bool = False
) -> Money:
    """A validated `MajorAmount` as Money in `currency` (InvalidAmount → 422 invalid_amount)."""
    return Money.parse(amount, currency, allow_zero=allow_zero, allow_negative=allow_negative)


class MoneyOut(BaseModel):
    """An amount in a response: {"amount": "100.50", "currency": "KES"}; the amount is a string."""

    model_config = ConfigDict(frozen=True)

    amount: str = Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["100.50"])
    currency: str = Field(min_length=3, max_length=3, examples=["KES"])

    @classmethod
    def of(cls, money: Money) -> MoneyOut:
        return cls(amount=money.format(), currency=money.currency)
