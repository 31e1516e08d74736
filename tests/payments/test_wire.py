"""Wire shapes of every request the clients build, byte for byte where the providers specify."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from letsbet.payments.flutterwave import wire as flw
from letsbet.payments.flutterwave.client import FlutterwaveClient
from letsbet.payments.http import ProviderError, ProviderUnavailable
from letsbet.payments.mpesa import wire
from letsbet.payments.mpesa.client import DarajaClient, StillProcessing

NOW = dt.datetime(2026, 3, 1, 21, 30, 5, tzinfo=dt.UTC)  # 00:30:05 on 2 March in Nairobi


def test_timestamp_is_nairobi_time() -> None:
    assert wire.timestamp(NOW) == "20260302003005"
    with pytest.raises(ValueError):
        wire.timestamp(dt.datetime(2026, 1, 1))  # naive on purpose


def test_stk_password_is_base64_of_shortcode_passkey_timestamp() -> None:
    # Daraja's documented sandbox example: 174379 + its public passkey + the timestamp.
    passkey = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
    password = wire.stk_password("174379", passkey, "20160216165627")
    assert password == (
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQy"
        "YzkxOTIwMTYwMjE2MTY1NjI3"
    )


def _push(**changes: Any) -> wire.StkPush:
    values: dict[str, Any] = {
        "shortcode": "174379",
        "passkey": "pk",
        "amount_minor": 1000_00,
        "phone": "254712345678",
        "callback_url": "https://example.test/cb/abc",
        "account_reference": "LB0A1B2C3D4E",
        "description": "letsbet dep",
    }
    return wire.StkPush(**(values | changes))


def test_stk_push_body() -> None:
    body = wire.stk_push_body(_push(), NOW)
    assert body == {
        "BusinessShortCode": "174379",
        "Password": base64.b64encode(b"174379pk20260302003005").decode(),
        "Timestamp": "20260302003005",
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 1000,
        "PartyA": "254712345678",
        "PartyB": "174379",
        "PhoneNumber": "254712345678",
        "CallBackURL": "https://example.test/cb/abc",
        "AccountReference": "LB0A1B2C3D4E",
        "TransactionDesc": "letsbet dep",
    }
    for bad in (
        _push(amount_minor=1000_50),
        _push(account_reference="LB-0A1B2C3D"),
        _push(account_reference="LB0A1B2C3D4E5"),
        _push(description="fourteen chars"),
    ):
        with pytest.raises(ValueError):
            wire.stk_push_body(bad, NOW)


def _certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def test_security_credential_decrypts_to_the_initiator_password() -> None:
    key, pem = _certificate()
    first = wire.security_credential("Safaricom999!*!", pem)
    second = wire.security_credential("Safaricom999!*!", pem)
    assert first != second  # PKCS#1 v1.5 padding is random
    for credential in (first, second):
        raw = base64.b64decode(credential, validate=True)
        assert len(raw) == 256  # one RSA-2048 block
        assert key.decrypt(raw, padding.PKCS1v15()) == b"Safaricom999!*!"


def test_b2c_body() -> None:
    body = wire.b2c_body(
        wire.B2C(
            originator_id="lb-1",
            initiator_name="api",
            security_credential="cred",
            amount_minor=950_00,
            shortcode="600000",
            phone="254712345678",
            remarks="letsbet withdrawal",
            result_url="https://x/result",
            timeout_url="https://x/timeout",
            occasion="lb-1",
        )
    )
    assert body == {
        "OriginatorConversationID": "lb-1",
        "InitiatorName": "api",
        "SecurityCredential": "cred",
        "CommandID": "BusinessPayment",
        "Amount": 950,
        "PartyA": "600000",
        "PartyB": "254712345678",
        "Remarks": "letsbet withdrawal",
        "QueueTimeOutURL": "https://x/timeout",
        "ResultURL": "https://x/result",
        "Occasion": "lb-1",
    }


def test_stk_callback_items_are_read_by_name() -> None:
    body = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": "ws_CO_191220191020363925",
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "PhoneNumber", "Value": 254708374149},
                        {"Name": "Balance"},
                        {"Name": "Amount", "Value": 1.00},
                        {"Name": "TransactionDate", "Value": 20191219102115},
                        {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                    ]
                },
            }
        }
    }
    parsed = wire.parse_stk_callback(orjson.loads(orjson.dumps(body)))
    assert (parsed.amount_minor, parsed.receipt, parsed.phone) == (
        100,
        "NLJ7RT61SV",
        "254708374149",
    )
    assert parsed.transaction_date == "20191219102115"
    failed = wire.parse_stk_callback(
        {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": "m",
                    "CheckoutRequestID": "c",
                    "ResultCode": 1032,
                    "ResultDesc": "Request cancelled by user",
                }
            }
        }
    )
    assert (failed.result_code, failed.receipt, failed.amount_minor) == (1032, None, None)
    with pytest.raises(wire.WireError):
        wire.parse_stk_callback({"Body": {}})


# -- clients over httpx.MockTransport ---------------------------------------------------------
class Daraja:
    """A scripted Daraja: records requests, answers from a queue per path."""

    def __init__(self, answers: dict[str, list[httpx.Response]]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers[request.url.path].pop(0)


def _token(value: str = "tok1", expires: str = "3599") -> httpx.Response:
    return httpx.Response(200, json={"access_token": value, "expires_in": expires})


def _client(daraja: Daraja) -> DarajaClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(daraja))
    return DarajaClient(
        http, base_url="https://daraja.test", consumer_key="key", consumer_secret="secret"
    )


ACCEPTED = {
    "MerchantRequestID": "m1",
    "CheckoutRequestID": "ws_CO_1",
    "ResponseCode": "0",
    "ResponseDescription": "Success. Request accepted for processing",
    "CustomerMessage": "Success. Request accepted for processing",
}


async def test_oauth_basic_auth_and_token_cache() -> None:
    daraja = Daraja(
        {
            "/oauth/v1/generate": [_token()],
            "/mpesa/stkpush/v1/processrequest": [httpx.Response(200, json=ACCEPTED)] * 2,
        }
    )
    client = _client(daraja)
    await client.stk_push(_push(), NOW)
    await client.stk_push(_push(), NOW)
    oauth, first, second = daraja.requests
    assert oauth.method == "GET" and oauth.url.params["grant_type"] == "client_credentials"
    assert oauth.headers["authorization"] == "Basic " + base64.b64encode(b"key:secret").decode()
    assert first.headers["authorization"] == second.headers["authorization"] == "Bearer tok1"
    assert first.headers["content-type"] == "application/json"
    assert orjson.loads(first.content)["Amount"] == 1000


async def test_invalid_token_is_refreshed_once() -> None:
    invalid = httpx.Response(
        401,
        json={"requestId": "r", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"},
    )
    daraja = Daraja(
        {
            "/oauth/v1/generate": [_token("old"), _token("new")],
            "/mpesa/stkpush/v1/processrequest": [invalid, httpx.Response(200, json=ACCEPTED)],
        }
    )
    accepted = await _client(daraja).stk_push(_push(), NOW)
    assert accepted.checkout_request_id == "ws_CO_1"
    paths = [r.url.path.rsplit("/", 1)[-1] for r in daraja.requests]
    assert paths == ["generate", "processrequest", "generate", "processrequest"]
    pushes = [r.headers["authorization"] for r in daraja.requests if r.method == "POST"]
    assert pushes == ["Bearer old", "Bearer new"]


async def test_daraja_errors_and_still_processing() -> None:
    bad = httpx.Response(
        400,
        json={
            "requestId": "r",
            "errorCode": "400.002.02",
            "errorMessage": "Bad Request - Invalid Amount",
        },
    )
    processing = httpx.Response(
        500,
        json={
            "requestId": "r",
            "errorCode": "500.001.1001",
            "errorMessage": "The transaction is being processed",
        },
    )
    done = httpx.Response(
        200,
        json={"ResponseCode": "0", "ResultCode": "1032", "ResultDesc": "Request cancelled by user"},
    )
    daraja = Daraja(
        {
            "/oauth/v1/generate": [_token()],
            "/mpesa/stkpush/v1/processrequest": [bad],
            "/mpesa/stkpushquery/v1/query": [processing, done],
        }
    )
    client = _client(daraja)
    with pytest.raises(ProviderError) as refused:
        await client.stk_push(_push(), NOW)
    assert (refused.value.status, refused.value.code) == (400, "400.002.02")
    with pytest.raises(StillProcessing):
        await client.stk_query("174379", "pk", "ws_CO_1", NOW)
    status = await client.stk_query("174379", "pk", "ws_CO_1", NOW)
    assert (status.result_code, status.result_desc) == (1032, "Request cancelled by user")
    query = orjson.loads(daraja.requests[-1].content)
    assert set(query) == {"BusinessShortCode", "Password", "Timestamp", "CheckoutRequestID"}


async def test_a_create_is_not_resent_after_a_timeout() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/oauth/v1/generate":
            return _token()
        raise httpx.ReadTimeout("slow", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = DarajaClient(
        http, base_url="https://daraja.test", consumer_key="k", consumer_secret="s"
    )
    with pytest.raises(ProviderUnavailable):
        await client.stk_push(_push(), NOW)
    assert calls.count("/mpesa/stkpush/v1/processrequest") == 1


# -- Flutterwave ------------------------------------------------------------------------------
def test_webhook_verification() -> None:
    raw = b'{"event":"charge.completed","data":{"id":1}}'
    good = flw.signature(raw, "hash")
    assert flw.verify_webhook(raw, "hash", None, "hash")
    assert flw.verify_webhook(raw, "hash", good, "hash")
    assert not flw.verify_webhook(raw, "hash", good[:-2] + "AA", "hash")
    assert not flw.verify_webhook(raw + b" ", "hash", good, "hash")
    assert not flw.verify_webhook(raw, "other", None, "hash")
    assert not flw.verify_webhook(raw, None, good, "hash")
    assert not flw.verify_webhook(raw, "", None, "")  # an unset secret verifies nothing


def test_both_webhook_layouts_parse() -> None:
    envelope = flw.parse_webhook(
        {"event": "charge.completed", "data": {"id": 7, "tx_ref": "lb-1", "status": "successful"}}
    )
    flat = flw.parse_webhook(
        {
            "id": 7,
            "txRef": "lb-1",
            "flwRef": "F",
            "status": "successful",
            "event.type": "CARD_TRANSACTION",
        }
    )
    assert envelope == flat == flw.Webhook("charge.completed", "7", "lb-1", "successful")
    transfer = flw.parse_webhook(
        {
            "event": "transfer.completed",
            "event.type": "Transfer",
            "data": {"id": 9, "reference": "lb-2", "status": "FAILED"},
        }
    )
    assert transfer == flw.Webhook("transfer.completed", "9", "lb-2", "FAILED")


def test_wire_amounts_are_exact() -> None:
    assert flw.major(5000_00, 2) == 5000
    with pytest.raises(ValueError):
        flw.major(5000_50, 2)
    assert flw.to_minor(100.5, 2) == 10050
    assert flw.to_minor("0.07", 2) == 7
    assert flw.to_minor(0.001, 2) is None and flw.to_minor(True, 2) is None


async def test_flutterwave_requests_carry_the_secret_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(
                200,
                json={
                    "status": "success",
                    "message": "Hosted Link",
                    "data": {"link": "https://checkout/x"},
                },
            )
        return httpx.Response(
            400,
            json={
                "status": "error",
                "message": "No transaction was found for this id",
                "data": None,
            },
        )

    client = FlutterwaveClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        base_url="https://flw.test",
        secret_key="FLWSECK_TEST-1",
    )
    body = flw.hosted_payment_body(
        tx_ref="lb-1",
        amount=5000,
        currency="NGN",
        redirect_url="https://x/return",
        email="p@players.letsbet.invalid",
        phone="+2348030000000",
        name="letsbet player",
    )
    assert await client.hosted_payment(body) == "https://checkout/x"
    with pytest.raises(ProviderError):
        await client.verify("404")
    assert all(r.headers["authorization"] == "Bearer FLWSECK_TEST-1" for r in seen)
    assert seen[0].url.path == "/v3/payments"
    assert orjson.loads(seen[0].content)["customer"]["email"] == "p@players.letsbet.invalid"
    assert seen[1].url.path == "/v3/transactions/404/verify"
