"""player overdraft: a clawback may take a player below zero

A result correction takes back winnings in full even when the player has spent them; the
negative balance is a debt later deposits repay (ledger.domain.OVERDRAFT_TYPES). The CHECK that
kept every player balance at or above zero (and above its holds) cannot tell a clawback from a
bug, so it goes; `letsbet ledger check` now proves from the postings that only clawbacks
overdraw (check `player_negative`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:00:00.000000
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(
        op.f("ck_ledger_accounts_player_not_negative"), "ledger_accounts", type_="check"
    )


def downgrade() -> None:
    # Fails while any player is overdrawn: settle those debts (or decide on them) first.
    op.create_check_constraint(
        op.f("ck_ledger_accounts_player_not_negative"),
        "ledger_accounts",
        "kind <> 'player_cash' OR (balance >= 0 AND held <= balance)",
    )
