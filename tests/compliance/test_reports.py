"""Tax and GGR report: crafted stakes, settlements, cash-outs, corrections, a crash bet,
a deposit and a withdrawal on two Kenyan legal days either side of the Finance Act 2025 give
hand-computed figures that reconcile with the tax-payable accounts; CSV shape; bad input."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.domain import Role
from letsbet.compliance.reports import domain
from letsbet.compliance.tax import payout_breakdown, regime_for, stake_breakdown
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
from letsbet.ledger.tables import ledger_accounts, ledger_postings, ledger_transfers
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets.placement import stake_transfer
from letsbet.sportsbook.bets.settlement import settlement_transfer
from letsbet.tenants import get_tenant
from tests.sportsbook.bets.helpers import funded_player
from tests.sportsbook.catalogue.helpers import headers_for

KE = get_tenant("KE")
DAY_A = date(2025, 6, 30)  # the seed regime: 15% excise on stakes, 20% WHT on net winnings
DAY_B = date(2025, 7, 1)  # Finance Act 2025: 5% excise on deposits, 5% WHT on withdrawals
LATE_A = datetime(2025, 6, 30, 20, 30, tzinfo=UTC)  # 23:30 in Nairobi
LAST_A = datetime(2025, 6, 30, 20, 59, 59, 999999, tzinfo=UTC)  # 23:59:59.999999
FIRST_B = datetime(2025, 6, 30, 21, 0, tzinfo=UTC)  # 00:00 on 1 July in Nairobi


async def _post_at(conn: AsyncConnection, spec: TransferSpec, at: datetime) -> None:
    """Post through the ledger, then date it to `at` (the report reads created_at)."""
    transfer = await ledger.post_transfer(conn, spec)
    for table in (ledger_postings, ledger_transfers):
        column = table.c.transfer_id if table is ledger_postings else table.c.id
        await conn.execute(sa.update(table).where(column == transfer.id).values(created_at=at))


async def _bet(
    conn: AsyncConnection, user_id: uuid.UUID, stake: int, returned: int, at: datetime, **kind: Any
) -> None:
    """A sportsbook bet staked and settled (or cashed out) at `at` under that day's regime."""
    regime = regime_for("KE", at)
    taxes = stake_breakdown(regime, stake)
    bet = SimpleNamespace(
        id=uuid.uuid4(),
        user_id=user_id,
        total_stake=stake,
        stake_tax=taxes.tax,
        country_code="KE",
        currency="KES",
    )
    await _post_at(conn, stake_transfer(bet.id, user_id, KE, stake, taxes.lines), at)
    payout = payout_breakdown(regime, stake=stake, payout=returned)
    spec = settlement_transfer(bet, returned, payout)
    if kind.get("cash_out"):
        spec = TransferSpec(
            f"bet:{bet.id}:cashout", "bet.cash_out", "KE", "KES", spec.entries, str(bet.id)
        )
    await _post_at(conn, spec, at)
    if kind.get("clawback"):  # a corrected result takes the whole return back
        await _post_at(
            conn,
            TransferSpec(
                f"bet:{bet.id}:resettle:1:1",
                "bet.resettle",
                "KE",
                "KES",
                (
                    Entry(PlayerCash(user_id), -payout.net_payout),
                    Entry(House(HouseAccount.SPORTSBOOK_REVENUE), payout.net_payout),
                ),
            ),
            at,
        )


def _spec(type_: str, *entries: tuple[Any, int]) -> TransferSpec:
    return TransferSpec(
        f"{type_}:{uuid.uuid4()}", type_, "KE", "KES", tuple(Entry(a, n) for a, n in entries)
    )


async def _tax_balances(runtime: Runtime) -> dict[str, int]:
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(ledger_accounts.c.code, sa.func.sum(ledger_accounts.c.balance))
            .where(
                ledger_accounts.c.kind == "house",
                ledger_accounts.c.country_code == "KE",
                ledger_accounts.c.code.in_(["excise_tax_payable", "withholding_tax_payable"]),
            )
            .group_by(ledger_accounts.c.code)
        )
        return {code: int(total) for code, total in rows.all()}


@pytest.fixture(scope="module")
async def crafted(runtime: Runtime) -> dict[str, int]:
    """Craft the two days once; returns how much each tax account moved."""
    user_id, _ = await funded_player(runtime, 100_000_00)
    before = await _tax_balances(runtime)
    player, clearing = PlayerCash(user_id), House(HouseAccount.MPESA_CLEARING)
    sip, crash = House(HouseAccount.STAKES_IN_PLAY), House(HouseAccount.CRASH_REVENUE)
    excise, wht = (
        House(HouseAccount.EXCISE_TAX_PAYABLE),
        House(HouseAccount.WITHHOLDING_TAX_PAYABLE),
    )
    async with runtime.db.transaction() as conn:
        await _bet(conn, user_id, 100_00, 170_00, LATE_A)  # won: WHT 20% of 70 = 14.00
        await _bet(conn, user_id, 200_00, 0, LAST_A)  # lost
        await _bet(conn, user_id, 50_00, 40_00, LATE_A, cash_out=True)  # a loss: no WHT
        # A crash bet of 10.00 lost: 15% excise on the stake.
        await _post_at(
            conn, _spec("crash.stake", (player, -10_00), (sip, 8_50), (excise, 1_50)), LATE_A
        )
        await _post_at(conn, _spec("crash.lost", (sip, -8_50), (crash, 8_50)), LATE_A)
        # 1 July: a deposit of 1,000.00 (5% excise) and a withdrawal of 200.00 (5% WHT).
        await _post_at(
            conn,
            _spec("deposit.test", (clearing, -1000_00), (excise, 50_00), (player, 950_00)),
            FIRST_B,
        )
        await _post_at(
            conn,
            _spec("withdrawal.test", (player, -200_00), (wht, 10_00), (clearing, 190_00)),
            FIRST_B,
        )
        await _bet(conn, user_id, 100_00, 250_00, FIRST_B, clawback=True)  # won, then taken back
    after = await _tax_balances(runtime)
    return {code: after.get(code, 0) - before.get(code, 0) for code in after}


def _report(**params: Any) -> dict[str, Any]:
    return {"country": "KE", "from": "2025-06-30", "to": "2025-07-02", **params}


async def test_figures_match_hand_computed_sums_and_reconcile(
    client: httpx.AsyncClient, runtime: Runtime, crafted: dict[str, int]
) -> None:
    response = await client.get(
        "/api/admin/reports/tax", params=_report(), headers=headers_for(runtime, Role.COMPLIANCE)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["country"], body["currency"], body["utc_offset"]) == ("KE", "KES", "+03:00")
    assert body["regimes"] == ["ke-seed-2024", "ke-2025-finance-act"]
    day_a, day_b, day_c = body["days"]
    assert (day_a["date"], day_a["regime"], day_a["ggr_rate"]) == (
        "2025-06-30",
        "ke-seed-2024",
        "0.15",
    )
    assert day_a["products"]["sportsbook"] == {
        "stakes": "350.00",  # 100 + 200 + 50
        "payouts": "210.00",  # 170 + 0 + 40
        "ggr": "140.00",
        "revenue": "87.50",  # (85 - 170) + 170 + (42.50 - 40)
        "excise": "52.50",  # 15% of 350
        "withholding": "14.00",
    }
    assert day_a["products"]["crash"] == {
        "stakes": "10.00",
        "payouts": "0.00",
        "ggr": "10.00",
        "revenue": "8.50",
        "excise": "1.50",
        "withholding": "0.00",
    }
    assert (day_a["excise"], day_a["withholding"], day_a["ggr"], day_a["ggr_tax"]) == (
        "54.00",
        "14.00",
        "150.00",
        "22.50",
    )
    assert day_b["regime"] == "ke-2025-finance-act"
    assert day_b["products"]["sportsbook"] == {
        "stakes": "100.00",
        "payouts": "0.00",  # 250 paid, 250 clawed back
        "ggr": "100.00",
        "revenue": "100.00",
        "excise": "0.00",
        "withholding": "0.00",
    }
    assert (day_b["deposit_excise"], day_b["withdrawal_withholding"]) == ("50.00", "10.00")
    assert (day_b["excise"], day_b["withholding"], day_b["ggr_tax"]) == ("50.00", "10.00", "15.00")
    assert day_c["date"] == "2025-07-02" and day_c["excise"] == "0.00" and day_c["ggr"] == "0.00"

    totals = body["totals"]
    assert totals["products"]["sportsbook"]["stakes"] == "450.00"
    assert totals["products"]["sportsbook"]["ggr"] == "240.00"
    assert (totals["ggr"], totals["ggr_tax"]) == ("250.00", "37.50")
    assert (totals["other_excise"], totals["other_withholding"]) == ("0.00", "0.00")
    # The totals are exactly what the tax-payable accounts moved.
    assert totals["excise"] == "104.00" and crafted["excise_tax_payable"] == 104_00
    assert totals["withholding"] == "24.00" and crafted["withholding_tax_payable"] == 24_00


async def test_the_day_boundary_is_local_midnight(
    client: httpx.AsyncClient, runtime: Runtime, crafted: dict[str, int]
) -> None:
    headers = headers_for(runtime, Role.ADMIN)
    only_a = await client.get(
        "/api/admin/reports/tax", params=_report(to="2025-06-30"), headers=headers
    )
    only_b = await client.get(
        "/api/admin/reports/tax", params=_report(**{"from": "2025-07-01"}), headers=headers
    )
    assert only_a.json()["totals"]["products"]["sportsbook"]["stakes"] == "350.00"
    assert only_b.json()["totals"]["products"]["sportsbook"]["stakes"] == "100.00"
    assert only_a.json()["totals"]["excise"] == "54.00"


async def test_csv_has_one_row_per_day_and_a_total(
    client: httpx.AsyncClient, runtime: Runtime, crafted: dict[str, int]
) -> None:
    headers = {**headers_for(runtime, Role.ADMIN), "Accept": "text/csv"}
    response = await client.get("/api/admin/reports/tax", params=_report(), headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "letsbet-tax-KE-2025-06-30-2025-07-02.csv" in response.headers["content-disposition"]
    assert response.text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["date"] for r in rows] == ["2025-06-30", "2025-07-01", "2025-07-02", "total"]
    assert list(rows[0]) == list(domain_columns())
    assert rows[0]["sportsbook_stakes"] == "350.00" and rows[0]["crash_revenue"] == "8.50"
    assert rows[3]["regime"] == "ke-seed-2024 ke-2025-finance-act"
    assert (rows[3]["excise"], rows[3]["withholding"], rows[3]["ggr_tax"]) == (
        "104.00",
        "24.00",
        "37.50",
    )
    same = await client.get(
        "/api/admin/reports/tax",
        params=_report(format="csv"),
        headers=headers_for(runtime, Role.ADMIN),
    )
    assert same.text == response.text


def domain_columns() -> tuple[str, ...]:
    from letsbet.compliance.reports.endpoints import CSV_HEADER

    return CSV_HEADER


async def test_bad_parameters_are_4xx(client: httpx.AsyncClient, runtime: Runtime) -> None:
    admin = headers_for(runtime, Role.ADMIN)
    url = "/api/admin/reports/tax"
    for params, code in (
        (_report(**{"from": "2025-07-02", "to": "2025-07-01"}), "invalid_report_period"),
        (_report(**{"from": "2024-01-01", "to": "2025-12-31"}), "invalid_report_period"),
        (_report(**{"from": "30/06/2025"}), "validation_error"),
        (_report(country="US"), "validation_error"),
        (_report(format="xml"), "validation_error"),
        ({"country": "KE", "from": "2025-06-30"}, "validation_error"),
    ):
        response = await client.get(url, params=params, headers=admin)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["code"] == code
    assert (
        await client.get(url, params=_report(), headers=headers_for(runtime))
    ).status_code == 403
    assert (await client.get(url, params=_report())).status_code == 401


async def test_the_country_defaults_to_the_callers(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = headers_for(runtime, Role.COMPLIANCE, country="GH")
    params = {"from": "2025-03-25", "to": "2025-03-26"}
    body = (await client.get("/api/admin/reports/tax", params=params, headers=headers)).json()
    assert (body["country"], body["currency"], body["utc_offset"]) == ("GH", "GHS", "+00:00")
    # Act 1094 withholding ends with 25 March; the operator's 20% GGR tax goes on.
    assert [(d["regime"], d["ggr_rate"]) for d in body["days"]] == [
        ("gh-act-1094-wht", "0.20"),
        ("gh-operator-ggr", "0.20"),
    ]


def test_per_regime_ggr_tax_offsets_days_within_the_period() -> None:
    rate = domain.RegimeDay("r", __import__("decimal").Decimal("0.15"))
    flows = [
        domain.Flow(DAY_A, "bet.stake", "stakes_in_play", 100_00),
        domain.Flow(DAY_B, "bet.settle", "stakes_in_play", -100_00),
        domain.Flow(DAY_B, "bet.settle", "sportsbook_revenue", -50_00),
    ]
    report = domain.build(DAY_A, DAY_B, flows, {DAY_A: rate, DAY_B: rate})
    assert [d.figures.ggr for d in report.days] == [100_00, -150_00]
    assert [d.ggr_tax for d in report.days] == [15_00, 0]
    assert report.ggr_tax == 0  # the period lost 50.00
