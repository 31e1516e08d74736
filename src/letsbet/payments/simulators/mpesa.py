"""A Daraja simulator: OAuth, STK Push, STK query and B2C v3, validating requests as Daraja does
and calling back asynchronously.

Outcomes by the customer's phone number ending (STK PhoneNumber / B2C PartyB):
    STK Push   ...1032 cancelled by user (1032)    ...0001 insufficient balance (1)
               ...1037 user unreachable (1037)     ...2001 wrong PIN (2001)
               ...1001 subscriber locked (1001)    ...0500 paid, but the callback is lost
               ...0501 never completes: no callback, the query answers "still processing"
               anything else: paid (ResultCode 0)
    B2C        ...2040 recipient not supported     ...0001 our utility account is short (1)
               ...0503 queue timeout (QueueTimeOutURL) ...0500 no callback at all
               anything else: paid. A wrong SecurityCredential: ResultCode 2001.
Switches (POST /simulator/config): callback_delay seconds, duplicates (copies of each callback),
callback_first (deliver the STK callback before answering the push: out of order),
pending_queries (answer that many queries "still processing" before the result),
expire_tokens (the next call with any token gets 404.001.03, once).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from letsbet.payments import simulators as sim
from letsbet.payments.mpesa.wire import NAIROBI, stk_password
from letsbet.payments.simulators.common import (
    Deliverer,
    json_of,
    random_code,
    switches_route,
)

STK_DESCS = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    1001: "Unable to lock subscriber, a transaction is already in process for the current "
    "subscriber",
    1032: "Request cancelled by user",
    1037: "DS timeout user cannot be reached",
    2001: "The initiator information is invalid.",
}
STK_ENDINGS = {"1032": 1032, "0001": 1, "1037": 1037, "2001": 2001, "1001": 1001}
B2C_ENDINGS = {"2040": 2040, "0001": 1}
B2C_DESCS = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    2001: "The initiator information is invalid.",
    2040: "Credit Party customer type (Unregistered or Registered Customer) can't be supported "
    "by the service.",
}


@dataclass
class Switches:
    callback_delay: float = 0.3
    duplicates: int = 1
    callback_first: bool = False
    pending_queries: int = 0
    expire_tokens: bool = False


@dataclass
class StkRecord:
    merchant_id: str
    checkout_id: str
    phone: str
    amount: int
    result_code: int | None  # None: never completes
    receipt: str
    callback_url: str
    lost_callback: bool
    ready_at: float = 0.0  # loop time when the customer has answered the prompt
    pending_queries: int = 0


@dataclass
class State:
    consumer_key: str = sim.SIM_CONSUMER_KEY
    consumer_secret: str = sim.SIM_CONSUMER_SECRET
    passkey: str = sim.SIM_PASSKEY
    shortcode: str = sim.SIM_SHORTCODE
    initiator_name: str = sim.SIM_INITIATOR_NAME
    initiator_password: str = sim.SIM_INITIATOR_PASSWORD
    switches: Switches = field(default_factory=Switches)
    tokens: set[str] = field(default_factory=set)
    stk: dict[str, StkRecord] = field(default_factory=dict)
    b2c: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliverer: Deliverer = field(default_factory=Deliverer)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    certificate_pem: bytes = b""

    def __post_init__(self) -> None:
        self.certificate_pem = _self_signed(self.key)

    async def aclose(self) -> None:
        await self.deliverer.aclose()


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "letsbet M-Pesa simulator")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def error(status: int, code: str, message: str) -> JSONResponse:
    """Daraja's error shape."""
    return JSONResponse(
        {
            "requestId": f"{random_code(5, '0123456789')}-{uuid.uuid4().int % 10**8}-1",
            "errorCode": code,
            "errorMessage": message,
        },
        status_code=status,
    )


def bad(field_name: str) -> JSONResponse:
    return error(400, "400.002.02", f"Bad Request - Invalid {field_name}")


def _authorised(state: State, request: Request) -> JSONResponse | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme != "Bearer" or token not in state.tokens:
        return error(401, "404.001.03", "Invalid Access Token")
    if state.switches.expire_tokens:
        state.switches.expire_tokens = False
        state.tokens.clear()
        return error(401, "404.001.03", "Invalid Access Token")
    return None


def _check_password(state: State, body: dict[str, Any]) -> JSONResponse | None:
    shortcode, stamp = str(body.get("BusinessShortCode", "")), str(body.get("Timestamp", ""))
    if shortcode != state.shortcode:
        return bad("BusinessShortCode")
    try:
        when = dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    except ValueError:
        return bad("Timestamp")
    if abs(dt.datetime.now(dt.UTC) - when) > dt.timedelta(hours=1):
        return bad("Timestamp")
    if body.get("Password") != stk_password(shortcode, state.passkey, stamp):
        return bad("Password")
    return None


def _msisdn_ok(value: Any) -> bool:
    text = str(value)
    return len(text) == 12 and text.isdigit() and text.startswith(("2547", "2541"))


def _url_ok(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) < 500


def _whole(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)  # simulator only: Daraja rejects fractional amounts
    except ValueError:
        return None
    if not number.is_integer() or not low <= number <= high:
        return None
    return int(number)


# -- routes -----------------------------------------------------------------------------------
async def oauth(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    expected = base64.b64encode(f"{state.consumer_key}:{state.consumer_secret}".encode()).decode()
    if request.query_params.get("grant_type") != "client_credentials":
        return error(400, "400.008.02", "Invalid grant type passed")
    if request.headers.get("authorization") != f"Basic {expected}":
        return error(400, "400.008.01", "Invalid Authentication passed")
    token = random_code(28, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    state.tokens.add(token)
    return JSONResponse({"access_token": token, "expires_in": "3599"})


async def stk_push(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if (refused := _authorised(state, request)) is not None:
        return refused
    body = await json_of(request)
    if not isinstance(body, dict):
        return error(400, "400.002.05", "Invalid Request Payload")
    if (refused := _check_password(state, body)) is not None:
        return refused
    if body.get("TransactionType") not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
        return bad("TransactionType")
    amount = _whole(body.get("Amount"), 1, 250_000)
    if amount is None:
        return bad("Amount")
    phone = str(body.get("PhoneNumber", ""))
    if not _msisdn_ok(phone):
        return bad("PhoneNumber")
    if str(body.get("PartyA")) != phone:
        return bad("PartyA")
    if str(body.get("PartyB")) != state.shortcode:
        return bad("PartyB")
    if not _url_ok(body.get("CallBackURL")):
        return bad("CallBackURL")
    reference = str(body.get("AccountReference", ""))
    if not reference or len(reference) > 12 or not reference.isalnum():
        return bad("AccountReference")
    if len(str(body.get("TransactionDesc", ""))) > 13:
        return bad("TransactionDesc")
    ending = phone[-4:]
    record = StkRecord(
        merchant_id=f"{random_code(5, '0123456789')}-{uuid.uuid4().int % 10**8}-1",
        checkout_id=f"ws_CO_{dt.datetime.now(NAIROBI):%d%m%Y%H%M%S}{random_code(9, '0123456789')}",
        phone=phone,
        amount=amount,
        result_code=None if ending == "0501" else STK_ENDINGS.get(ending, 0),
        receipt=random_code(10),
        callback_url=str(body["CallBackURL"]),
        lost_callback=ending in ("0500", "0501"),
        pending_queries=state.switches.pending_queries,
    )
    state.stk[record.checkout_id] = record
    switches = state.switches
    if record.result_code is not None:
        record.ready_at = asyncio.get_running_loop().time() + switches.callback_delay
        if not record.lost_callback:
            delay = 0.0 if switches.callback_first else switches.callback_delay
            task = state.deliverer.send(
                record.callback_url, stk_callback(record), delay=delay, copies=switches.duplicates
            )
            if switches.callback_first:
                await task  # out of order: the callback lands before this answer does
    return JSONResponse(
        {
            "MerchantRequestID": record.merchant_id,
            "CheckoutRequestID": record.checkout_id,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }
    )


def stk_callback(record: StkRecord) -> dict[str, Any]:
    code = record.result_code or 0
    callback: dict[str, Any] = {
        "MerchantRequestID": record.merchant_id,
        "CheckoutRequestID": record.checkout_id,
        "ResultCode": code,
        "ResultDesc": STK_DESCS.get(code, "Failed"),
    }
    if code == 0:
        callback["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": record.amount},
                {"Name": "MpesaReceiptNumber", "Value": record.receipt},
                {"Name": "Balance"},
                {
                    "Name": "TransactionDate",
                    "Value": int(f"{dt.datetime.now(NAIROBI):%Y%m%d%H%M%S}"),
                },
                {"Name": "PhoneNumber", "Value": int(record.phone)},
            ]
        }
    return {"Body": {"stkCallback": callback}}


async def stk_query(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if (refused := _authorised(state, request)) is not None:
        return refused
    body = await json_of(request)
    if not isinstance(body, dict):
        return error(400, "400.002.05", "Invalid Request Payload")
    if (refused := _check_password(state, body)) is not None:
        return refused
    record = state.stk.get(str(body.get("CheckoutRequestID", "")))
    if record is None:
        return bad("CheckoutRequestID")
    answered = asyncio.get_running_loop().time() >= record.ready_at
    if record.result_code is None or record.pending_queries > 0 or not answered:
        record.pending_queries = max(0, record.pending_queries - 1)
        return error(500, "500.001.1001", "The transaction is being processed")
    return JSONResponse(
        {
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": record.merchant_id,
            "CheckoutRequestID": record.checkout_id,
            "ResultCode": str(record.result_code),
            "ResultDesc": STK_DESCS.get(record.result_code, "Failed"),
        }
    )


async def b2c(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if (refused := _authorised(state, request)) is not None:
        return refused
    body = await json_of(request)
    if not isinstance(body, dict):
        return error(400, "400.002.05", "Invalid Request Payload")
    originator = str(body.get("OriginatorConversationID", ""))
    if not originator or len(originator) > 100:
        return bad("OriginatorConversationID")
    if originator in state.b2c:  # a resend: the same answer, no second payment
        return JSONResponse(state.b2c[originator]["answer"])
    if body.get("CommandID") not in ("BusinessPayment", "SalaryPayment", "PromotionPayment"):
        return bad("CommandID")
    amount = _whole(body.get("Amount"), 10, 250_000)
    if amount is None:
        return bad("Amount")
    if str(body.get("PartyA")) != state.shortcode:
        return bad("PartyA")
    phone = str(body.get("PartyB", ""))
    if not _msisdn_ok(phone):
        return bad("PartyB")
    for name in ("ResultURL", "QueueTimeOutURL"):
        if not _url_ok(body.get(name)):
            return bad(name)
    if not body.get("InitiatorName") or not body.get("SecurityCredential"):
        return bad("InitiatorName" if not body.get("InitiatorName") else "SecurityCredential")
    code = _credential_code(state, body) or B2C_ENDINGS.get(phone[-4:], 0)
    conversation = f"AG_{dt.datetime.now(NAIROBI):%Y%m%d}_{random_code(20, '0123456789abcdef')}"
    answer = {
        "ConversationID": conversation,
        "OriginatorConversationID": originator,
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }
    state.b2c[originator] = {"answer": answer, "code": code, "amount": amount}
    switches = state.switches
    ending = phone[-4:]
    if ending == "0503":
        timeout = {"Result": {"OriginatorConversationID": originator, "ResultCode": "SVC0403"}}
        state.deliverer.send(
            str(body["QueueTimeOutURL"]),
            timeout,
            delay=switches.callback_delay,
            copies=switches.duplicates,
        )
    elif ending != "0500":
        result = b2c_result(originator, conversation, code, amount, phone)
        state.deliverer.send(
            str(body["ResultURL"]),
            result,
            delay=switches.callback_delay,
            copies=switches.duplicates,
        )
    return JSONResponse(answer)


def _credential_code(state: State, body: dict[str, Any]) -> int:
    """2001 unless SecurityCredential decrypts (PKCS#1 v1.5) to the initiator password."""
    if body.get("InitiatorName") != state.initiator_name:
        return 2001
    try:
        plain = state.key.decrypt(
            base64.b64decode(str(body["SecurityCredential"]), validate=True), padding.PKCS1v15()
        )
    except ValueError:
        return 2001
    return 0 if plain == state.initiator_password.encode() else 2001


def b2c_result(
    originator: str, conversation: str, code: int, amount: int, phone: str
) -> dict[str, Any]:
    transaction = random_code(10)
    result: dict[str, Any] = {
        "ResultType": 0,
        "ResultCode": code,
        "ResultDesc": B2C_DESCS.get(code, "Failed"),
        "OriginatorConversationID": originator,
        "ConversationID": conversation,
        "TransactionID": transaction,
    }
    if code == 0:
        result["ResultParameters"] = {
            "ResultParameter": [
                {"Key": "TransactionAmount", "Value": amount},
                {"Key": "TransactionReceipt", "Value": transaction},
                {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
                {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": 0.0},
                {"Key": "ReceiverPartyPublicName", "Value": f"{phone} - Simulated Customer"},
                {
                    "Key": "TransactionCompletedDateTime",
                    "Value": f"{dt.datetime.now(NAIROBI):%d.%m.%Y %H:%M:%S}",
                },
                {"Key": "B2CUtilityAccountAvailableFunds", "Value": 1_000_000.0},
                {"Key": "B2CWorkingAccountAvailableFunds", "Value": 1_000_000.0},
            ]
        }
    result["ReferenceData"] = {
        "ReferenceItem": {"Key": "QueueTimeoutURL", "Value": "https://simulator/b2c/timeout"}
    }
    return {"Result": result}


async def certificate(request: Request) -> Response:
    state: State = request.app.state.simulator
    return Response(state.certificate_pem, media_type="application/x-pem-file")


def create_app(state: State | None = None) -> Starlette:
    app = Starlette(
        routes=[
            Route("/oauth/v1/generate", oauth, methods=["GET"]),
            Route("/mpesa/stkpush/v1/processrequest", stk_push, methods=["POST"]),
            Route("/mpesa/stkpushquery/v1/query", stk_query, methods=["POST"]),
            Route("/mpesa/b2c/v3/paymentrequest", b2c, methods=["POST"]),
            Route("/simulator/certificate", certificate, methods=["GET"]),
        ]
    )
    app.state.simulator = state or State()
    switches_route(app, app.state.simulator.switches)
    return app
