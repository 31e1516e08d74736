"""Demo accounts for development (`make run`); refused in production by config validation."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts import repository, service
from letsbet.accounts.domain import Role
from letsbet.accounts.tables import users
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec

DEMO_PLAYER_PHONE = "+254712345678"
DEMO_FUNDS = 1_000_00  # KES 1,000.00

# Fixed, documented development credentials: a newcomer logs in at once.
DEMO_ACCOUNTS = (
    {
        "phone": "+254700000001",
        "password": "demo-admin-pass",
        "role": Role.ADMIN,
        "first_name": "Demo",
        "last_name": "Admin",
    },
    {
        "phone": "+254700000002",
        "password": "demo-compliance-pass",
        "role": Role.COMPLIANCE,
        "first_name": "Demo",
        "last_name": "Compliance",
    },
    {
        "phone": "+254712345678",
        "password": "demo-player-pass",
        "role": Role.PLAYER,
        "first_name": "Amina",
        "last_name": "Otieno",
    },
)


async def seed(conn: AsyncConnection) -> list[dict[str, object]]:
    """Create the demo accounts that do not exist yet; returns every demo account."""
    for account in DEMO_ACCOUNTS:
        if await repository.user_by_phone(conn, str(account["phone"])) is None:
            await service.register(
                conn,
                phone=str(account["phone"]),
                password=str(account["password"]),
                country="KE",
                date_of_birth=date(1990, 1, 1),
                role=Role(account["role"]),
                first_name=str(account["first_name"]),
                last_name=str(account["last_name"]),
            )
    await _fund_demo_player(conn)
    player = await repository.user_by_phone(conn, DEMO_PLAYER_PHONE)
    assert player is not None
    # Verified, so a newcomer can try a withdrawal against the simulators at once.
    await conn.execute(
        sa.update(users)
        .where(users.c.id == player.id, users.c.kyc_status != "verified")
        .values(kyc_status="verified")
    )
    return [dict(a) for a in DEMO_ACCOUNTS]


async def _fund_demo_player(conn: AsyncConnection) -> None:
    """KES 1,000.00 for the demo player, once (the idempotency key makes re-runs no-ops)."""
    player = await repository.user_by_phone(conn, DEMO_PLAYER_PHONE)
    assert player is not None
    await ledger.post_transfer(
        conn,
        TransferSpec(
            idempotency_key=f"demo:fund:{player.id}",
            type="adjustment",
            country="KE",
            currency="KES",
            entries=(
                Entry(House(HouseAccount.ADJUSTMENTS), -DEMO_FUNDS),
                Entry(PlayerCash(player.id), DEMO_FUNDS),
            ),
            reference="demo-funds",
            metadata={"reason": "demo funds (development only)"},
        ),
    )
