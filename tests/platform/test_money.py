"""Money: exact minor units, strict parsing of major-unit input, same-currency arithmetic."""

from __future__ import annotations

import dataclasses
import operator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from letsbet.errors import Unprocessable
from letsbet.platform.http.errors import install_error_handlers
from letsbet.platform.money import (
    CURRENCIES,
    MAX_AMOUNT_MINOR,
    CurrencyMismatch,
    InvalidAmount,
    MajorAmount,
    Money,
    MoneyOut,
    UnknownCurrency,
    minor_units,
    to_money,
)
from letsbet.tenants import TENANTS

NOT_A_NUMBER = 'Amount must be a number like "100.50".'
FLOAT = 'Send amounts as strings like "100.50", not as floating-point numbers.'
DECIMALS = "Amount must have at most 2 decimals."
NOT_POSITIVE = "Amount must be greater than zero."
TOO_LARGE = "Amount is too large."
BOUND_MAJOR = "10000000000000"  # MAX_AMOUNT_MINOR in KES major units

amounts = st.integers(min_value=-MAX_AMOUNT_MINOR, max_value=MAX_AMOUNT_MINOR)
currencies = st.sampled_from(sorted(CURRENCIES))


class _Body(BaseModel):
    amount: MajorAmount


def kes(minor: int) -> Money:
    return Money(minor, "KES")


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "flags", "minor"),
    [
        ("100.50", {}, 10050),
        ("100.5", {}, 10050),
        ("100", {}, 10000),
        ("0.05", {}, 5),
        ("007", {}, 700),
        (100, {}, 10000),
        (Decimal("100.50"), {}, 10050),
        (Decimal("1E+3"), {}, 100000),  # a Decimal from code is a number, not a string to check
        ("0", {"allow_zero": True}, 0),
        ("0.00", {"allow_zero": True}, 0),
        ("-0", {"allow_zero": True}, 0),
        (0, {"allow_zero": True}, 0),
        ("-1", {"allow_negative": True}, -100),
        ("-0.05", {"allow_negative": True}, -5),
        (-3, {"allow_negative": True}, -300),
        (BOUND_MAJOR, {}, MAX_AMOUNT_MINOR),
        (f"{BOUND_MAJOR}.00", {}, MAX_AMOUNT_MINOR),
        (10**13, {}, MAX_AMOUNT_MINOR),
        (f"-{BOUND_MAJOR}", {"allow_negative": True}, -MAX_AMOUNT_MINOR),
    ],
)
def test_accepted_inputs(value: Any, flags: dict[str, bool], minor: int) -> None:
    assert Money.parse(value, "KES", **flags) == Money(minor, "KES")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (100.5, FLOAT),
        (100.0, FLOAT),  # a float has already lost the exact value, even when it looks whole
        (True, NOT_A_NUMBER),
        (False, NOT_A_NUMBER),
        (None, NOT_A_NUMBER),
        ([1], NOT_A_NUMBER),
        ("1.005", DECIMALS),
        ("100.505", DECIMALS),
        ("100.500", DECIMALS),
        (Decimal("1.005"), DECIMALS),
        (Decimal("100.500"), DECIMALS),
        ("0", NOT_POSITIVE),
        ("0.00", NOT_POSITIVE),
        ("-0", NOT_POSITIVE),
        (0, NOT_POSITIVE),
        ("-1", NOT_POSITIVE),
        ("-0.01", NOT_POSITIVE),
        (-1, NOT_POSITIVE),
        ("1e3", NOT_A_NUMBER),
        ("1E3", NOT_A_NUMBER),
        (" 1", NOT_A_NUMBER),
        ("1 ", NOT_A_NUMBER),
        ("1\n", NOT_A_NUMBER),
        ("1,000", NOT_A_NUMBER),
        ("1_000", NOT_A_NUMBER),
        ("", NOT_A_NUMBER),
        ("abc", NOT_A_NUMBER),
        ("+1", NOT_A_NUMBER),
        (".5", NOT_A_NUMBER),
        ("5.", NOT_A_NUMBER),
        ("1.2.3", NOT_A_NUMBER),
        ("--1", NOT_A_NUMBER),
        ("NaN", NOT_A_NUMBER),
        ("Infinity", NOT_A_NUMBER),
        ("\u0661\u0662", NOT_A_NUMBER),  # Arabic-Indic digits match \d, not [0-9]
        ("\uff11", NOT_A_NUMBER),  # fullwidth 1
        (Decimal("NaN"), NOT_A_NUMBER),
        (Decimal("-Infinity"), NOT_A_NUMBER),
        ("99999999999999999999", TOO_LARGE),
        (f"{BOUND_MAJOR}.01", TOO_LARGE),
        ("10000000000001", TOO_LARGE),
        (10**13 + 1, TOO_LARGE),
        (10**100, TOO_LARGE),
        ("9" * 5000, TOO_LARGE),  # beyond int()'s 4300-digit string limit: still a clean error
        (Decimal("1E+999999999"), TOO_LARGE),
    ],
)
def test_rejected_inputs(value: Any, message: str) -> None:
    with pytest.raises(InvalidAmount) as caught:
        Money.parse(value, "KES")
    assert caught.value.message == message
    assert caught.value.status_code == 422 and caught.value.code == "invalid_amount"


def test_sign_flags_change_the_message_to_what_is_still_wrong() -> None:
    with pytest.raises(InvalidAmount, match="must not be zero"):
        Money.parse("0", "KES", allow_negative=True)
    with pytest.raises(InvalidAmount, match="must not be negative"):
        Money.parse("-1", "KES", allow_zero=True)
    with pytest.raises(InvalidAmount, match=TOO_LARGE):
        Money.parse("-10000000000000.01", "KES", allow_negative=True)


def test_a_zero_with_a_huge_exponent_is_zero_not_a_hang() -> None:
    assert Money.parse(Decimal("0E+999999999"), "KES", allow_zero=True) == kes(0)


@pytest.mark.parametrize("currency", ["USD", "kes", "", None, 1])
def test_unknown_currencies_are_refused(currency: Any) -> None:
    with pytest.raises(UnknownCurrency) as caught:
        Money.parse("1", currency)
    assert caught.value.status_code == 422 and caught.value.code == "unknown_currency"
    with pytest.raises(UnknownCurrency):
        Money(1, currency)
    with pytest.raises(UnknownCurrency):
        minor_units(currency)


def test_other_currencies_follow_their_own_minor_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CURRENCIES, "UGX", 0)
    monkeypatch.setitem(CURRENCIES, "KWD", 3)
    assert Money.parse("1500", "UGX") == Money(1500, "UGX")
    assert Money(1500, "UGX").format() == "1500"
    with pytest.raises(InvalidAmount, match="must be a whole number"):
        Money.parse("1.5", "UGX")
    assert Money.parse("1.005", "KWD") == Money(1005, "KWD")
    assert Money(-5, "KWD").format() == "-0.005"
    with pytest.raises(InvalidAmount, match="at most 3 decimals"):
        Money.parse("1.0005", "KWD")


def test_every_tenant_currency_is_known_with_its_minor_units() -> None:
    for tenant in TENANTS.values():
        assert minor_units(tenant.currency) == tenant.minor_units


def test_the_bound_fits_bigint_sums_and_doubles() -> None:
    assert MAX_AMOUNT_MINOR * 9_000 < 2**63 - 1
    assert MAX_AMOUNT_MINOR < 2**53
    assert max(t.max_deposit for t in TENANTS.values()) * 1_000 < MAX_AMOUNT_MINOR


# --- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize("minor", [1.0, True, Decimal(1), "1", None])
def test_minor_units_must_be_an_int(minor: Any) -> None:
    with pytest.raises(TypeError):
        Money(minor, "KES")


def test_construction_enforces_the_bound() -> None:
    assert Money.of(MAX_AMOUNT_MINOR, "KES").minor == MAX_AMOUNT_MINOR
    assert Money.of(-MAX_AMOUNT_MINOR, "KES").minor == -MAX_AMOUNT_MINOR
    for minor in (MAX_AMOUNT_MINOR + 1, -MAX_AMOUNT_MINOR - 1):
        with pytest.raises(InvalidAmount, match=TOO_LARGE):
            Money(minor, "KES")


def test_money_is_immutable_and_hashable() -> None:
    money = kes(100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.minor = 5  # type: ignore[misc]
    assert {kes(100), kes(100), Money(100, "NGN")} == {kes(100), Money(100, "NGN")}
    assert Money.zero("GHS") == Money(0, "GHS") != Money(0, "KES")


def test_money_has_no_truth_value() -> None:
    with pytest.raises(TypeError, match="is_zero"):
        bool(kes(0))
    assert kes(0).is_zero() and not kes(1).is_zero()
    assert kes(1).is_positive() and not kes(0).is_positive() and not kes(-1).is_positive()
    assert kes(-1).is_negative() and not kes(0).is_negative()


# --- formatting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "text"),
    [
        (10050, "100.50"),
        (10000, "100.00"),
        (5, "0.05"),
        (10, "0.10"),
        (0, "0.00"),
        (-5, "-0.05"),
        (-10050, "-100.50"),
        (MAX_AMOUNT_MINOR, "10000000000000.00"),
        (-MAX_AMOUNT_MINOR, "-10000000000000.00"),
    ],
)
def test_format(minor: int, text: str) -> None:
    assert kes(minor).format() == text


def test_json_str_and_repr() -> None:
    money = Money(10050, "NGN")
    assert money.to_json() == {"amount": "100.50", "currency": "NGN"}
    assert MoneyOut.of(money).model_dump() == money.to_json()
    assert MoneyOut.of(money).model_dump_json() == '{"amount":"100.50","currency":"NGN"}'
    assert str(money) == "100.50 NGN"
    assert repr(money) == "Money(minor=10050, currency='NGN')"


@given(amounts, currencies)
def test_format_then_parse_round_trips(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.format(), currency, allow_zero=True, allow_negative=True) == money


@given(amounts, currencies)
def test_response_to_request_round_trips(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    body = MoneyOut.of(money).model_dump_json()
    amount = _Body.model_validate_json(body).amount  # the extra "currency" key is ignored
    assert to_money(amount, currency, allow_zero=True, allow_negative=True) == money


@given(st.text(max_size=30))
def test_any_text_is_money_or_invalid_amount(text: str) -> None:
    try:
        money = Money.parse(text, "KES", allow_zero=True, allow_negative=True)
    except InvalidAmount:
        return
    assert Money.parse(money.format(), "KES", allow_zero=True, allow_negative=True) == money


# --- arithmetic -------------------------------------------------------------------------------

small = st.integers(min_value=-(MAX_AMOUNT_MINOR // 3), max_value=MAX_AMOUNT_MINOR // 3)


@given(small, small, small, currencies)
def test_addition_is_associative_and_subtraction_inverts_it(
    a: int, b: int, c: int, currency: str
) -> None:
    x, y, z = (Money(m, currency) for m in (a, b, c))
    assert (x + y) + z == x + (y + z) == Money(a + b + c, currency)
    assert (x - y) - z == x - (y + z) == Money(a - b - c, currency)
    assert (x + y) - y == x
    assert x - y == x + (-y)
    negated = -x
    assert -negated == x
    assert x + Money.zero(currency) == x


@given(small, small)
def test_ordering_matches_minor_units(a: int, b: int) -> None:
    assert (kes(a) < kes(b)) == (a < b)
    assert (kes(a) <= kes(b)) == (a <= b)
    assert (kes(a) > kes(b)) == (a > b)
    assert (kes(a) >= kes(b)) == (a >= b)


def test_sum_needs_a_money_start() -> None:
    assert sum([kes(1), kes(2), kes(3)], Money.zero("KES")) == kes(6)
    with pytest.raises(TypeError):
        sum([kes(1)])  # type: ignore[list-item]


def test_arithmetic_past_the_bound_raises() -> None:
    with pytest.raises(InvalidAmount, match=TOO_LARGE):
        kes(MAX_AMOUNT_MINOR) + kes(1)
    with pytest.raises(InvalidAmount, match=TOO_LARGE):
        kes(-MAX_AMOUNT_MINOR) - kes(1)


def test_mixing_currencies_raises_currency_mismatch() -> None:
    a, b = kes(100), Money(100, "NGN")
    operations = [operator.add, operator.sub, operator.lt, operator.le, operator.gt, operator.ge]
    for operation in operations:
        with pytest.raises(CurrencyMismatch) as caught:
            operation(a, b)
        assert isinstance(caught.value, ValueError)
        assert not isinstance(caught.value, Unprocessable)  # a bug, not a player's mistake
        assert (caught.value.left, caught.value.right) == ("KES", "NGN")
    assert a != b  # equality never raises: different currencies are simply not equal


@pytest.mark.parametrize("other", [1, 1.0, Decimal(1), "1"])
def test_money_does_not_mix_with_plain_numbers(other: Any) -> None:
    money = kes(100)
    with pytest.raises(TypeError):
        money + other
    with pytest.raises(TypeError):
        other + money
    with pytest.raises(TypeError):
        money - other
    with pytest.raises(TypeError):
        operator.lt(money, other)
    assert money != other


# --- pydantic and FastAPI ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "amount"),
    [
        ('{"amount": "100.50"}', Decimal("100.50")),
        ('{"amount": "100"}', Decimal("100")),
        ('{"amount": 100}', Decimal("100")),
        ('{"amount": "0"}', Decimal("0")),  # zero and sign are the service's call, via to_money
        ('{"amount": "-5.25"}', Decimal("-5.25")),
        ('{"amount": "99999999999999999999"}', Decimal("99999999999999999999")),
    ],
)
def test_major_amount_accepts_strings_and_integers(body: str, amount: Decimal) -> None:
    parsed = _Body.model_validate_json(body).amount
    assert parsed == amount and str(parsed) == str(amount)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"amount": 100.5}', FLOAT),
        ('{"amount": 100.0}', FLOAT),
        ('{"amount": 1e3}', FLOAT),
        ('{"amount": "100.505"}', DECIMALS),
        ('{"amount": "1e3"}', NOT_A_NUMBER),
        ('{"amount": " 100"}', NOT_A_NUMBER),
        ('{"amount": "1,000"}', NOT_A_NUMBER),
        ('{"amount": ""}', NOT_A_NUMBER),
        ('{"amount": true}', NOT_A_NUMBER),
        ('{"amount": null}', NOT_A_NUMBER),
        ('{"amount": [1]}', NOT_A_NUMBER),
        ('{"amount": {"value": 1}}', NOT_A_NUMBER),
    ],
)
def test_major_amount_rejects_floats_and_junk(body: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Body.model_validate_json(body)
    (error,) = caught.value.errors()
    assert error["type"] == "value_error"
    assert error["msg"] == f"Value error, {message}"


def test_major_amount_python_input_and_serialisation() -> None:
    assert _Body(amount=Decimal("2.50")).amount == Decimal("2.50")
    with pytest.raises(ValidationError):
        _Body(amount=2.5)  # type: ignore[arg-type]
    assert _Body.model_validate_json('{"amount": "100.50"}').model_dump_json() == (
        '{"amount":"100.50"}'
    )
    schema = _Body.model_json_schema()["properties"]["amount"]
    assert {"type": "integer"} in schema["anyOf"]
    assert {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,2})?$"} in schema["anyOf"]
    assert _Body.model_json_schema(mode="serialization")["properties"]["amount"]["type"] == (
        "string"
    )


def test_major_amount_defers_the_currency_check_to_to_money() -> None:
    amount = _Body.model_validate_json('{"amount": "1.50"}').amount
    assert to_money(amount, "GHS") == Money(150, "GHS")
    with pytest.raises(InvalidAmount, match=NOT_POSITIVE):
        to_money(Decimal("0"), "GHS")
    assert to_money(Decimal("0"), "GHS", allow_zero=True).is_zero()


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/stake")
    async def stake(body: _Body) -> MoneyOut:
        return MoneyOut.of(to_money(body.amount, "KES"))

    return app


async def _post(payload: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(
            "/stake", content=payload, headers={"content-type": "application/json"}
        )


async def test_endpoint_turns_a_major_amount_into_money_out() -> None:
    response = await _post(b'{"amount": "100.50"}')
    assert response.status_code == 200
    assert response.json() == {"amount": "100.50", "currency": "KES"}
    response = await _post(b'{"amount": 100}')
    assert response.json() == {"amount": "100.00", "currency": "KES"}


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        (b'{"amount": 100.5}', "validation_error", f"amount: {FLOAT}"),
        (b'{"amount": "1.005"}', "validation_error", f"amount: {DECIMALS}"),
        (b'{"amount": "abc"}', "validation_error", f"amount: {NOT_A_NUMBER}"),
        (b'{"amount": "0"}', "invalid_amount", NOT_POSITIVE),
        (b'{"amount": -1}', "invalid_amount", NOT_POSITIVE),
        (b'{"amount": "99999999999999999999"}', "invalid_amount", TOO_LARGE),
    ],
)
async def test_endpoint_rejects_bad_amounts_with_422(
    payload: bytes, code: str, message: str
) -> None:
    response = await _post(payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (code, message)
