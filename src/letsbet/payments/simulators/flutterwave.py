"""A Flutterwave v3 simulator: hosted payments, Ghana mobile money charges, verify, transfers
and signed webhooks delivered asynchronously to the configured webhook URL.

Outcomes:
    charges    customer phone ending ...0001 failed, ...0500 successful but no webhook,
               ...0501 stays pending; anything else successful. Hosted payments complete by
               themselves after `callback_delay` (as if the customer paid on the page).
    transfers  account number ending ...0001 FAILED; ...0500 answers 500 after creating the
               transfer; ...0504 creates it, then stalls `stall_seconds` before answering (a
               client timeout); anything else SUCCESSFUL.
Switches (POST /simulator/config): callback_delay, duplicates, flat_webhooks (the sandbox's
flat camelCase charge layout), signed (add flutterwave-signature), stall_seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from letsbet.payments import simulators as sim
from letsbet.payments.flutterwave.wire import GHANA_NETWORKS, signature
from letsbet.payments.simulators.common import Deliverer, json_of, random_code, switches_route

CURRENCIES = ("NGN", "GHS", "KES", "USD")


@dataclass
class Switches:
    callback_delay: float = 0.3
    duplicates: int = 1
    flat_webhooks: bool = False
    signed: bool = True
    stall_seconds: float = 15.0


@dataclass
class State:
    secret_key: str = sim.SIM_FLW_SECRET_KEY
    secret_hash: str = sim.SIM_FLW_SECRET_HASH
    webhook_url: str = "http://127.0.0.1:8080/api/payments/flutterwave/webhook"
    public_url: str = "http://127.0.0.1:8092"
    switches: Switches = field(default_factory=Switches)
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_tx_ref: dict[str, str] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_reference: dict[str, str] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(285959875))
    deliverer: Deliverer = field(default_factory=Deliverer)

    async def aclose(self) -> None:
        await self.deliverer.aclose()

    def webhook(self, body: dict[str, Any], url: str | None = None) -> None:
        raw = orjson.dumps(body)
        headers = {"verif-hash": self.secret_hash}
        if self.switches.signed:
            headers["flutterwave-signature"] = signature(raw, self.secret_hash)
        self.deliverer.send(
            url or self.webhook_url,
            None,
            raw=raw,
            headers=headers,
            delay=self.switches.callback_delay,
            copies=self.switches.duplicates,
        )


def fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message, "data": None}, status_code=status)


def ok(message: str, data: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "message": message, "data": data, **extra})


def _authorised(state: State, request: Request) -> bool:
    return request.headers.get("authorization") == f"Bearer {state.secret_key}"


def _amount(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)  # the simulator only checks > 0; letsbet itself never floats money
    except ValueError:
        return None
    return number if number > 0 else None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _charge(state: State, body: dict[str, Any], phone: str, payment_type: str) -> dict[str, Any]:
    tx_id = str(next(state.ids))
    ending = phone[-4:]
    tx = {
        "id": int(tx_id),
        "tx_ref": body["tx_ref"],
        "flw_ref": f"FLW-MOCK-{random_code(24, '0123456789abcdef')}",
        "amount": body["amount"],
        "charged_amount": body["amount"],
        "currency": body["currency"],
        "status": "pending",
        "payment_type": payment_type,
        "created_at": _now(),
        "customer": {"phone_number": phone, "email": body.get("email", "")},
        "_final": {"0001": "failed", "0501": "pending"}.get(ending, "successful"),
        "_webhook": ending not in ("0500", "0501"),
    }
    state.transactions[tx_id] = tx
    state.by_tx_ref[str(body["tx_ref"])] = tx_id
    asyncio.get_running_loop().call_later(
        state.switches.callback_delay * 0.5, _complete, state, tx_id
    )
    return tx


def _public(tx: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tx.items() if not k.startswith("_")}


def _complete(state: State, tx_id: str) -> None:
    tx = state.transactions[tx_id]
    tx["status"] = tx["_final"]
    if tx["status"] == "pending" or not tx["_webhook"]:
        return
    if state.switches.flat_webhooks:  # the sandbox's flat camelCase layout
        body: dict[str, Any] = {
            "id": tx["id"],
            "txRef": tx["tx_ref"],
            "flwRef": tx["flw_ref"],
            "orderRef": f"URF_{random_code(12)}",
            "amount": tx["amount"],
            "charged_amount": tx["charged_amount"],
            "status": tx["status"],
            "currency": tx["currency"],
            "event.type": "CARD_TRANSACTION",
            "customer": tx["customer"],
        }
    else:
        body = {"event": "charge.completed", "data": _public(tx)}
    state.webhook(body)


async def payments(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if not _authorised(state, request):
        return fail(401, "Invalid authorization key")
    body = await json_of(request)
    if not isinstance(body, dict):
        return fail(400, "Invalid request body")
    for name in ("tx_ref", "redirect_url"):
        if not body.get(name):
            return fail(400, f"{name} is required")
    if _amount(body.get("amount")) is None:
        return fail(400, "amount is required and must be greater than 0")
    if body.get("currency", "NGN") not in CURRENCIES:
        return fail(400, "Invalid currency")
    customer = body.get("customer")
    if not isinstance(customer, dict) or not customer.get("email"):
        return fail(400, "customer.email is required")
    tx_id = state.by_tx_ref.get(str(body["tx_ref"]))
    if tx_id is None:
        body.setdefault("currency", "NGN")
        body["email"] = customer["email"]
        tx_id = str(_charge(state, body, str(customer.get("phonenumber", "")), "card")["id"])
    return ok("Hosted Link", {"link": f"{state.public_url}/pay/{tx_id}"})


async def charges(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if not _authorised(state, request):
        return fail(401, "Invalid authorization key")
    if request.query_params.get("type") != "mobile_money_ghana":
        return fail(400, "Invalid charge type")
    body = await json_of(request)
    if not isinstance(body, dict):
        return fail(400, "Invalid request body")
    for name in ("tx_ref", "email", "phone_number"):
        if not body.get(name):
            return fail(400, f"{name} is required")
    if _amount(body.get("amount")) is None:
        return fail(400, "amount is required and must be greater than 0")
    if body.get("currency") != "GHS":
        return fail(400, "Invalid currency: mobile_money_ghana charges GHS")
    if body.get("network") not in GHANA_NETWORKS:
        return fail(400, "Invalid network: use MTN, VODAFONE or TIGO")
    if str(body["tx_ref"]) in state.by_tx_ref:
        return fail(400, "Duplicate transaction reference")
    tx = _charge(state, body, str(body["phone_number"]), "mobilemoneygh")
    redirect = f"{state.public_url}/pay/{tx['id']}"
    return JSONResponse(
        {
            "status": "success",
            "message": "Charge initiated",
            "meta": {"authorization": {"redirect": redirect, "mode": "redirect"}},
        }
    )


async def pay_page(request: Request) -> HTMLResponse:
    state: State = request.app.state.simulator
    tx = state.transactions.get(request.path_params["tx_id"])
    status = tx["status"] if tx else "unknown"
    return HTMLResponse(f"<h1>Flutterwave simulator</h1><p>Payment status: {status}</p>")


async def verify(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if not _authorised(state, request):
        return fail(401, "Invalid authorization key")
    tx = state.transactions.get(request.path_params["tx_id"])
    if tx is None:
        return fail(400, "No transaction was found for this id")
    return ok("Transaction fetched successfully", _public(tx))


async def verify_by_reference(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if not _authorised(state, request):
        return fail(401, "Invalid authorization key")
    tx_id = state.by_tx_ref.get(request.query_params.get("tx_ref", ""))
    if tx_id is None:
        return fail(400, "No transaction was found for this reference")
    return ok("Transaction fetched successfully", _public(state.transactions[tx_id]))


async def create_transfer(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if not _authorised(state, request):
        return fail(401, "Invalid authorization key")
    body = await json_of(request)
    if not isinstance(body, dict):
        return fail(400, "Invalid request body")
    for name in ("account_bank", "account_number", "currency", "reference"):
        if not body.get(name):
            return fail(400, f"{name} is required")
    if _amount(body.get("amount")) is None:
        return fail(400, "amount is required and must be greater than 0")
    if body["currency"] not in CURRENCIES:
        return fail(400, "Invalid currency")
    reference = str(body["reference"])
    if reference in state.by_reference:
        return fail(400, "Transfer with this reference already exists")
    account = str(body["account_number"])
    transfer_id = str(next(state.ids))
    transfer = {
        "id": int(transfer_id),
        "account_number": account,
        "bank_code": body["account_bank"],
        "full_name": "Simulated Beneficiary",
        "created_at": _now(),
        "currency": body["currency"],
        "debit_currency": body.get("debit_currency", body["currency"]),
        "amount": body["amount"],
        "fee": 10.75,
        "status": "NEW",
        "reference": reference,
        "meta": None,
        "narration": body.get("narration", ""),
        "complete_message": "",
        "requires_approval": 0,
        "is_approved": 1,
        "bank_name": "SIMULATED BANK",
    }
    state.transfers[transfer_id] = transfer
    state.by_reference[reference] = transfer_id
    final = "FAILED" if account.endswith("0001") else "SUCCESSFUL"
    callback = str(body.get("callback_url") or state.webhook_url)
    asyncio.get_running_loop().call_later(
        state.switches.callback_delay * 0.5, _finish_transfer, state, transfer_id, final, callback
    )
    if account.endswith("0500"):
        return fail(500, "An error occurred while processing your request")
    if account.endswith("0504"):
        await asyncio.sleep(state.switches.stall_seconds)
    return ok("Transfer Queued Successfully", transfer)


def _finish_transfer(state: State, transfer_id: str, final: str, callback: str) -> None:
    transfer = state.transfers[transfer_id]
    transfer["status"] = final
    transfer["complete_message"] = (
        "Successful" if final == "SUCCESSFUL" else "DISBURSE FAILED: Insufficient funds in customer"
    )
    data = {**transfer, "fullname": transfer["full_name"], "approver": None}
    state.webhook({"event": "transfer.completed", "event.type": "Transfer", "data": data}, callback)


async def get_transfer(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if not _authorised(state, request):
        return fail(401, "Invalid authorization key")
    transfer = state.transfers.get(request.path_params["transfer_id"])
    if transfer is None:
        return fail(404, "Transfer not found")
    return ok("Transfer fetched", transfer)


async def list_transfers(request: Request) -> JSONResponse:
    state: State = request.app.state.simulator
    if not _authorised(state, request):
        return fail(401, "Invalid authorization key")
    reference = request.query_params.get("reference")
    items = [
        t for t in state.transfers.values() if reference is None or t["reference"] == reference
    ]
    page = {"total": len(items), "current_page": 1, "total_pages": 1}
    return ok("Transfers fetched", items, meta={"page_info": page})


def create_app(state: State | None = None) -> Starlette:
    app = Starlette(
        routes=[
            Route("/v3/payments", payments, methods=["POST"]),
            Route("/v3/charges", charges, methods=["POST"]),
            Route("/v3/transactions/verify_by_reference", verify_by_reference, methods=["GET"]),
            Route("/v3/transactions/{tx_id}/verify", verify, methods=["GET"]),
            Route("/v3/transfers", create_transfer, methods=["POST"]),
            Route("/v3/transfers", list_transfers, methods=["GET"]),
            Route("/v3/transfers/{transfer_id}", get_transfer, methods=["GET"]),
            Route("/pay/{tx_id}", pay_page, methods=["GET"]),
        ]
    )
    app.state.simulator = state or State()
    switches_route(app, app.state.simulator.switches)
    return app
