"""Products as data: which ledger transfer types take stakes and pay returns, and which house
account holds the product's revenue. A new game is one more `Product` here; the report needs
no other change.

How a transfer's money is read (each transfer sums to zero and involves at most one player):
- a stake transfer debits the player, so the gross stake is the sum of its house postings
  (stakes in play or revenue, plus any excise on the stake);
- a payout transfer credits the player the return less withholding, so the gross return is
  the withholding it posts minus the sum of its house postings. Corrections and rollbacks are
  payout transfers too: they pay (or take back) the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

from letsbet.ledger.domain import HouseAccount


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    stake_types: frozenset[str]
    payout_types: frozenset[str]
    revenue_account: HouseAccount

    @property
    def types(self) -> frozenset[str]:
        return self.stake_types | self.payout_types


SPORTSBOOK = Product(
    name="sportsbook",
    stake_types=frozenset({"bet.stake"}),  # pre-match, and live bets when their hold is posted
    payout_types=frozenset({"bet.settle", "bet.cash_out", "bet.resettle", "bet.rollback"}),
    revenue_account=HouseAccount.SPORTSBOOK_REVENUE,
)
# The crash game's transfer types (crash/settlement.py): a lost bet moves its net stake from
# stakes in play to crash revenue and pays nothing.
CRASH = Product(
    name="crash",
    stake_types=frozenset({"crash.stake"}),
    payout_types=frozenset({"crash.cashout", "crash.lost"}),
    revenue_account=HouseAccount.CRASH_REVENUE,
)
PRODUCTS: tuple[Product, ...] = (SPORTSBOOK, CRASH)

# Payments (deposit.<provider>, withdrawal.<provider>): Kenya's Finance Act 2025 levies excise
# on deposits and withholding on withdrawals.
DEPOSIT_PREFIX = "deposit."
WITHDRAWAL_PREFIX = "withdrawal."
