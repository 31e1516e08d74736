"""Tax lines from the tax engine land on the tax-payable house accounts, in the same transfer."""

from __future__ import annotations

from datetime import date

from letsbet.compliance.tax import deposit_breakdown, regime_for, withdrawal_breakdown
from letsbet.ledger import service
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec, tax_entries
from letsbet.platform.runtime import Runtime
from tests.support import create_players


async def test_kenyan_deposit_and_withdrawal_post_their_taxes(runtime: Runtime) -> None:
    regime = regime_for("KE", date(2026, 11, 25))  # Finance Act 2025: 5% excise, 5% WHT
    async with runtime.db.transaction() as conn:
        (player,) = await create_players(conn, 1)
        deposit = deposit_breakdown(regime, 1_000_00)
        assert (deposit.tax, deposit.net) == (50_00, 950_00)
        transfer = await service.post_transfer(
            conn,
            TransferSpec(
                idempotency_key=f"dep-{player}",
                type="deposit.mpesa",
                country="KE",
                currency="KES",
                entries=(
                    Entry(House(HouseAccount.MPESA_CLEARING), -deposit.gross),
                    Entry(PlayerCash(player), deposit.net),
                    *tax_entries(deposit.lines),
                ),
            ),
        )
        by_house = {e.house_code: e.amount for e in transfer.entries if e.house_code}
        assert by_house == {"mpesa_clearing": -1_000_00, "excise_tax_payable": 50_00}
        assert transfer.entry_for(player).balance_after == 950_00

        withdrawal = withdrawal_breakdown(regime, 500_00)
        assert (withdrawal.tax, withdrawal.net) == (25_00, 475_00)
        out = await service.post_transfer(
            conn,
            TransferSpec(
                idempotency_key=f"wd-{player}",
                type="withdrawal.mpesa",
                country="KE",
                currency="KES",
                entries=(
                    Entry(PlayerCash(player), -withdrawal.gross),
                    Entry(House(HouseAccount.MPESA_CLEARING), withdrawal.net),
                    *tax_entries(withdrawal.lines),
                ),
            ),
        )
        assert {e.house_code: e.amount for e in out.entries if e.house_code} == {
            "mpesa_clearing": 475_00,
            "withholding_tax_payable": 25_00,
        }
        assert (await service.wallet(conn, player, "KES")).balance == 450_00
