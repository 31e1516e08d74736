"""POST /api/admin/events/{id}/result: results for settlement, idempotent, correctable; and
POST .../markets/{market_id}/rollback-result: results withdrawn."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from letsbet.platform.runtime import Runtime
from tests.sportsbook.catalogue.helpers import (
    admin_headers,
    create_event,
    headers_for,
    market,
    market_id,
    outcome_ids,
    recorded,
)


def _result(event: dict[str, Any], market_type: str, **results: Any) -> dict[str, Any]:
    """A market's results: key="won" / "lost" or key=("lost", {"void_factor": "0.5"})."""
    ids = outcome_ids(event, market_type)
    outcomes = []
    for key, value in results.items():
        result, extra = (value, {}) if isinstance(value, str) else value
        outcomes.append({"outcome_id": ids[key], "result": result, **extra})
    return {"market_id": market_id(event, market_type), "outcomes": outcomes}


async def _post(
    client: httpx.AsyncClient, runtime: Runtime, event: dict[str, Any], **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/admin/events/{event['id']}/result", json=body, headers=admin_headers(runtime)
    )


def _outcomes(body: dict[str, Any], market_type: str) -> dict[str, tuple[Any, ...]]:
    found = next(m for m in body["markets"] if m["type"] == market_type)
    return {
        o["key"]: (o["result"], o["void_factor"], o["dead_heat_factor"]) for o in found["outcomes"]
    }


async def test_result_then_identical_repost_then_correction(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime)
    home_won = _result(event, "1x2", home="won", draw="lost", away="lost")
    # Home -0.75 winning by one goal: half the stake wins, half is refunded.
    asian = _result(
        event,
        "asian_handicap",
        home=("won", {"void_factor": "0.5"}),
        away=("lost", {"void_factor": "0.5"}),
    )
    first = await _post(client, runtime, event, markets=[home_won, asian])
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "scheduled"  # four markets still open, no final score yet
    assert body["seq"] == 1
    statuses = {m["type"]: m["status"] for m in body["markets"]}
    assert statuses["1x2"] == statuses["asian_handicap"] == "settled"
    assert statuses["btts"] == "open"
    assert _outcomes(body, "1x2") == {
        "home": ("won", None, None),
        "draw": ("lost", None, None),
        "away": ("lost", None, None),
    }
    assert _outcomes(body, "asian_handicap") == {
        "home": ("won", "0.5", None),
        "away": ("lost", "0.5", None),
    }
    resulted = await recorded(runtime, "sportsbook.market.resulted", event["id"])
    assert [(r["market_id"], r["seq"], r["correction"]) for r in resulted] == [
        (home_won["market_id"], 1, False),
        (asian["market_id"], 1, False),
    ]
    assert resulted[1]["outcomes"] == [
        {
            "outcome_id": asian["outcomes"][0]["outcome_id"],
            "result": "won",
            "void_factor": "0.5",
            "dead_heat_factor": None,
        },
        {
            "outcome_id": asian["outcomes"][1]["outcome_id"],
            "result": "lost",
            "void_factor": "0.5",
            "dead_heat_factor": None,
        },
    ]

    # The same results again (written differently: void 0 and dead heat 1 are neutral).
    home_won["outcomes"][0].update(void_factor="0", dead_heat_factor="1.0")
    again = await _post(client, runtime, event, markets=[home_won, asian])
    assert again.status_code == 200 and again.json()["seq"] == 1
    assert len(await recorded(runtime, "sportsbook.market.resulted", event["id"])) == 2

    draw = _result(event, "1x2", home="lost", draw="won", away="lost")
    corrected = await _post(client, runtime, event, markets=[draw, asian])
    assert corrected.status_code == 200 and corrected.json()["seq"] == 2
    assert _outcomes(corrected.json(), "1x2")["draw"] == ("won", None, None)
    resulted = await recorded(runtime, "sportsbook.market.resulted", event["id"])
    assert [(r["market_id"], r["seq"], r["correction"]) for r in resulted[2:]] == [
        (draw["market_id"], 2, True)
    ]


async def test_event_ends_when_every_market_is_resulted(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(
        client,
        runtime,
        markets=[
            market("btts", {"yes": "1.8", "no": "2"}),
            market("over_under", {"over": "1.9", "under": "1.9"}, "2.5"),
        ],
    )
    btts = _result(event, "btts", yes="won", no="lost")
    first = await _post(client, runtime, event, markets=[btts])
    assert first.json()["status"] == "scheduled"
    totals = _result(event, "over_under", over="won", under="lost")
    last = await _post(client, runtime, event, markets=[totals])
    assert last.status_code == 200, last.text
    assert last.json()["status"] == "ended" and last.json()["seq"] == 2
    (ended,) = await recorded(runtime, "sportsbook.event.status_changed", event["id"])
    assert (ended["status"], ended["seq"], ended["markets"]) == ("ended", 2, [])


async def test_final_score_ends_the_event_and_closes_open_markets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime)
    # A dead heat between two outcomes is paid at half.
    btts = _result(event, "btts", yes=("won", {"dead_heat_factor": "0.5"}), no="lost")
    response = await _post(client, runtime, event, home_score=2, away_score=1, markets=[btts])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ended" and body["score"] == {"home": 2, "away": 1}
    assert _outcomes(body, "btts")["yes"] == ("won", None, "0.5")
    assert sorted({m["status"] for m in body["markets"]}) == ["closed", "settled"]
    (ended,) = await recorded(runtime, "sportsbook.event.status_changed", event["id"])
    assert ended["seq"] == body["seq"] == 1 and len(ended["markets"]) == 5

    # Closed markets can still be resulted; the score alone again changes nothing.
    score_only = await _post(client, runtime, event, home_score=2, away_score=1)
    assert score_only.json()["seq"] == 1
    totals = _result(event, "over_under", over="won", under="lost")
    later = await _post(client, runtime, event, markets=[totals])
    assert later.json()["seq"] == 2 and later.json()["status"] == "ended"
    corrected_score = await _post(client, runtime, event, home_score=3, away_score=1)
    assert corrected_score.json()["score"] == {"home": 3, "away": 1}


@pytest.mark.parametrize(
    ("build", "status", "code"),
    [
        (
            lambda e: {"markets": [_result(e, "1x2", home="won", draw="lost")]},
            422,
            "invalid_result",
        ),
        (
            lambda e: {
                "markets": [_result(e, "btts", yes=("lost", {"dead_heat_factor": "0.5"}), no="won")]
            },
            422,
            "invalid_result",
        ),
        (
            lambda e: {
                "markets": [_result(e, "btts", yes=("won", {"void_factor": "1.5"}), no="lost")]
            },
            422,
            "invalid_result",
        ),
        (
            lambda e: {
                "markets": [_result(e, "btts", yes=("won", {"void_factor": "abc"}), no="lost")]
            },
            422,
            "invalid_result",
        ),
        (
            lambda e: {
                "markets": [_result(e, "btts", yes=("won", {"dead_heat_factor": "0"}), no="lost")]
            },
            422,
            "invalid_result",
        ),
        (
            lambda e: {"markets": [_result(e, "btts", yes="void", no="lost")]},
            422,
            "validation_error",
        ),
        (
            lambda e: {"markets": [_result(e, "btts", yes="won", no="lost")] * 2},
            422,
            "invalid_result",
        ),
        (
            lambda e: {
                "markets": [
                    {"market_id": 999999999999, "outcomes": [{"outcome_id": 1, "result": "won"}]}
                ]
            },
            404,
            "market_not_found",
        ),
        (
            lambda e: {
                "markets": [
                    {
                        "market_id": market_id(e, "btts"),
                        "outcomes": [
                            *_result(e, "btts", yes="won", no="lost")["outcomes"],
                            {"outcome_id": outcome_ids(e, "1x2")["home"], "result": "lost"},
                        ],
                    }
                ]
            },
            404,
            "outcome_not_found",
        ),
        (lambda e: {"markets": []}, 422, "validation_error"),
        (lambda e: {"home_score": 1, "markets": []}, 422, "validation_error"),
        (lambda e: {"home_score": -1, "away_score": 0}, 422, "validation_error"),
    ],
)
async def test_result_validation(
    client: httpx.AsyncClient, runtime: Runtime, build: Any, status: int, code: str
) -> None:
    event = await create_event(client, runtime)
    response = await _post(client, runtime, event, **build(event))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    unchanged = (await client.get(f"/api/events/{event['id']}")).json()
    assert unchanged["seq"] == 0 and {m["status"] for m in unchanged["markets"]} == {"open"}


async def test_cancelled_events_and_markets_cannot_be_resulted(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    staff = admin_headers(runtime)
    event = await create_event(client, runtime)
    other = await create_event(client, runtime)
    await client.patch(
        f"/api/admin/events/{event['id']}", json={"status": "cancelled"}, headers=staff
    )
    refused = await _post(
        client, runtime, event, markets=[_result(event, "btts", yes="won", no="lost")]
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invalid_status_change"
    foreign = await _post(
        client, runtime, other, markets=[_result(event, "btts", yes="won", no="lost")]
    )
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "market_not_found"


def _rollback_url(event: dict[str, Any], market: int) -> str:
    return f"/api/admin/events/{event['id']}/markets/{market}/rollback-result"


async def test_rollback_withdraws_results_and_the_market_takes_no_bets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime)
    staff = admin_headers(runtime)
    home_won = _result(event, "1x2", home="won", draw="lost", away="lost")
    assert (await _post(client, runtime, event, markets=[home_won])).json()["seq"] == 1
    url = _rollback_url(event, home_won["market_id"])

    player = await client.post(url, headers=headers_for(runtime))
    assert player.status_code == 403
    response = await client.post(url, headers=staff)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["seq"] == 2
    assert _outcomes(body, "1x2") == {k: (None, None, None) for k in ("home", "draw", "away")}
    statuses = {m["type"]: m["status"] for m in body["markets"]}
    assert statuses["1x2"] == "suspended" and statuses["btts"] == "open"
    (rolled,) = await recorded(runtime, "sportsbook.market.result_rolled_back", event["id"])
    assert rolled["market_id"] == home_won["market_id"] and rolled["seq"] == 2
    assert (rolled["status"], rolled["previous_status"]) == ("suspended", "settled")
    assert rolled["actor"].startswith("user:")
    changed = await recorded(runtime, "sportsbook.market.status_changed", event["id"])
    assert changed[-1]["status"] == "suspended"  # what live odds clients see

    again = await client.post(url, headers=staff)
    assert again.status_code == 409 and again.json()["error"]["code"] == "market_not_resulted"
    other = await create_event(client, runtime)
    foreign = await client.post(_rollback_url(other, home_won["market_id"]), headers=staff)
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "market_not_found"
    missing = await client.post(
        f"/api/admin/events/999999999/markets/{home_won['market_id']}/rollback-result",
        headers=staff,
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "event_not_found"

    # Resulted again: a first result for settlement, not a correction.
    draw = _result(event, "1x2", home="lost", draw="won", away="lost")
    assert (await _post(client, runtime, event, markets=[draw])).status_code == 200
    resulted = await recorded(runtime, "sportsbook.market.resulted", event["id"])
    assert [(r["seq"], r["correction"]) for r in resulted] == [(1, False), (3, False)]


async def test_rollback_on_an_ended_event_closes_the_market(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime, markets=[market("btts", {"yes": "1.8", "no": "2"})])
    btts = _result(event, "btts", yes="won", no="lost")
    assert (await _post(client, runtime, event, markets=[btts])).json()["status"] == "ended"
    response = await client.post(
        _rollback_url(event, btts["market_id"]), headers=admin_headers(runtime)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ended" and body["markets"][0]["status"] == "closed"
    # A closed market's odds are final; its results can come again.
    refused = await client.patch(
        f"/api/admin/events/{event['id']}/odds",
        json={"outcomes": [{"outcome_id": btts["outcomes"][0]["outcome_id"], "odds": "2.00"}]},
        headers=admin_headers(runtime),
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "market_closed"
    again = await _post(client, runtime, event, markets=[btts])
    assert again.json()["markets"][0]["status"] == "settled"
