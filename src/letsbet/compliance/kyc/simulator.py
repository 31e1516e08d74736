"""A Smile ID v1 simulator: Enhanced KYC sync and async, checking requests as Smile ID does.

    partner_id unknown                 401 {"code": "2204"}
    signature does not verify          401 {"code": "2205"}
    a required field missing/invalid   400 {"code": "2213"}
    a job_id used before               400 {"code": "2215"}
Results by the id number's last four characters:
    ...1013 not found   ...1014 unsupported format   ...1015 authority unavailable
    ...1016 product not enabled   ...1021 partial match   ...1022 no match   ...1023 not found
    ...0099 validated, but the register holds another person's name and date of birth
    anything else: 1012 validated, returning the name (surname first, in capitals) and dob sent
Answers and callbacks are signed with the partner's API key. Switches (POST /simulator/config):
callback_delay seconds, duplicates (copies of each callback), unavailable (answer 503).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from letsbet.compliance.kyc import wire
from letsbet.compliance.kyc.provider import SIM_API_KEY, SIM_PARTNER_ID
from letsbet.payments.simulators.common import Deliverer, json_of, switches_route

ENDINGS = {"1013", "1014", "1015", "1016", "1021", "1022", "1023"}
TEXTS = {code: text for code, (_, text) in wire.RESULT_CODES.items()}


@dataclass
class Switches:
    callback_delay: float = 0.05
    duplicates: int = 1
    unavailable: bool = False


@dataclass
class State:
    partner_id: str = SIM_PARTNER_ID
    api_key: str = SIM_API_KEY
    switches: Switches = field(default_factory=Switches)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # job_id -> result
    deliverer: Deliverer = field(default_factory=Deliverer)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def aclose(self) -> None:
        await self.deliverer.aclose()


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "error": message}, status_code=status)


def _refusal(state: State, body: Any, *, needs_callback: bool) -> JSONResponse | None:
    if not isinstance(body, dict):
        return _error(400, "2213", "Invalid JSON body")
    if body.get("partner_id") != state.partner_id:
        return _error(401, "2204", "Unauthorized")
    if not wire.signature_valid(
        state.api_key, state.partner_id, body.get("timestamp"), body.get("signature")
    ):
        return _error(401, "2205", "You are not authorized to do that")
    params = body.get("partner_params")
    required = ("country", "id_type", "id_number")
    if (
        any(not isinstance(body.get(k), str) or not body.get(k) for k in required)
        or not isinstance(params, dict)
        or not isinstance(params.get("job_id"), str)
        or not isinstance(params.get("user_id"), str)
        or params.get("job_type") != wire.JOB_TYPE_ENHANCED_KYC
        or (needs_callback and not isinstance(body.get("callback_url"), str))
    ):
        return _error(400, "2213", "Missing or invalid parameters")
    if params["job_id"] in state.jobs:
        return _error(400, "2215", "Job already exists. Please use another job_id")
    return None


def _result(state: State, body: dict[str, Any]) -> dict[str, Any]:
    id_number = str(body["id_number"])
    ending = id_number[-4:]
    code = ending if ending in ENDINGS else "1012"
    validated = code in ("1012", "1020")
    first, last = body.get("first_name") or "", body.get("last_name") or ""
    if ending == "0099":
        name, dob = "OTIENO BRIAN ODHIAMBO", "1970-01-01"
    else:
        name, dob = f"{last} {first}".strip().upper(), body.get("dob") or "Not Available"
    timestamp = wire.timestamp_of(datetime.now(UTC))
    return {
        "SmileJobID": f"{next(state.counter):010d}",
        "PartnerParams": body["partner_params"],
        "ResultType": "ID Verification",
        "ResultText": TEXTS[code],
        "ResultCode": code,
        "IsFinalResult": "true",
        "Actions": {
            "Verify_ID_Number": "Verified" if validated else "Not Verified",
            "Return_Personal_Info": "Returned" if validated else "Not Returned",
        },
        "Country": body["country"],
        "IDType": body["id_type"],
        "IDNumber": id_number,
        "FullName": name if validated else "Not Available",
        "DOB": dob if validated else "Not Available",
        "timestamp": timestamp,
        "signature": wire.sign(state.api_key, state.partner_id, timestamp),
    }


def create_app(state: State | None = None) -> Starlette:
    state = state or State()

    async def sync(request: Request) -> JSONResponse:
        if state.switches.unavailable:
            return _error(503, "2201", "Service unavailable")
        body = await json_of(request)
        refused = _refusal(state, body, needs_callback=False)
        if refused is not None:
            return refused
        result = _result(state, body)
        state.jobs[body["partner_params"]["job_id"]] = result
        return JSONResponse(result)

    async def asynchronous(request: Request) -> JSONResponse:
        if state.switches.unavailable:
            return _error(503, "2201", "Service unavailable")
        body = await json_of(request)
        refused = _refusal(state, body, needs_callback=True)
        if refused is not None:
            return refused
        result = _result(state, body)
        state.jobs[body["partner_params"]["job_id"]] = result
        state.deliverer.send(
            body["callback_url"],
            result,
            delay=state.switches.callback_delay,
            copies=state.switches.duplicates,
        )
        return JSONResponse({"success": True, "smile_job_id": result["SmileJobID"]})

    app = Starlette(
        routes=[
            Route(wire.SYNC_PATH, sync, methods=["POST"]),
            Route(wire.ASYNC_PATH, asynchronous, methods=["POST"]),
        ]
    )
    app.state.simulator = state
    switches_route(app, state.switches)
    return app
