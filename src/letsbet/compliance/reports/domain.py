"""The tax report's arithmetic, pure: from per-day sums of house postings to each day's
stakes, payouts, GGR, excise and withholding, and the period's totals. No I/O.

Input: one `Flow` per (legal day, transfer type, house account) with the sum of the postings.
Every figure is an integer of minor units. Conventions:
- GGR (gross gaming revenue) of a product = stakes taken - returns paid in the period (cash
  basis, before any tax), per product and in total.
- `revenue` = the movement of the product's revenue account: the book's result on bets
  settled in the period, net of stake excise (settlement basis; it is what the books hold).
- Excise and withholding are the movements of the two tax-payable accounts, split by source
  (products, deposits, withdrawals, anything else), so the totals always equal the accounts'
  movements over the period, whatever posted them.
- GGR tax = the regime's rate x max(0, GGR): per day for that day alone; in the totals, per
  regime over all its days in the period (a day's loss offsets another day's win within the
  period, a period's loss is not carried forward).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from letsbet.compliance.reports.products import (
    DEPOSIT_PREFIX,
    PRODUCTS,
    WITHDRAWAL_PREFIX,
    Product,
)
from letsbet.compliance.tax import EXCISE_ACCOUNT, WITHHOLDING_ACCOUNT, round_half_up

MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Flow:
    day: date
    type: str
    account: str  # house account code
    amount: int


@dataclass(frozen=True, slots=True)
class RegimeDay:
    regime_id: str
    ggr_rate: Decimal


@dataclass(slots=True)
class ProductFigures:
    stakes: int = 0
    payouts: int = 0
    revenue: int = 0
    excise: int = 0
    withholding: int = 0

    @property
    def ggr(self) -> int:
        return self.stakes - self.payouts

    def add(self, other: ProductFigures) -> None:
        self.stakes += other.stakes
        self.payouts += other.payouts
        self.revenue += other.revenue
        self.excise += other.excise
        self.withholding += other.withholding


@dataclass(slots=True)
class Figures:
    products: dict[str, ProductFigures] = field(
        default_factory=lambda: {p.name: ProductFigures() for p in PRODUCTS}
    )
    deposit_excise: int = 0
    withdrawal_withholding: int = 0
    excise: int = 0  # the excise payable account's movement
    withholding: int = 0  # the withholding payable account's movement

    @property
    def ggr(self) -> int:
        return sum(p.ggr for p in self.products.values())

    @property
    def other_excise(self) -> int:
        known = sum(p.excise for p in self.products.values()) + self.deposit_excise
        return self.excise - known

    @property
    def other_withholding(self) -> int:
        known = sum(p.withholding for p in self.products.values()) + self.withdrawal_withholding
        return self.withholding - known

    def add(self, other: Figures) -> None:
        for name, figures in other.products.items():
            self.products[name].add(figures)
        self.deposit_excise += other.deposit_excise
        self.withdrawal_withholding += other.withdrawal_withholding
        self.excise += other.excise
        self.withholding += other.withholding


@dataclass(frozen=True, slots=True)
class DayReport:
    day: date
    regime: RegimeDay
    figures: Figures
    ggr_tax: int


@dataclass(frozen=True, slots=True)
class Report:
    days: tuple[DayReport, ...]
    totals: Figures
    ggr_tax: int  # per regime over the period (see the module docstring)


def days_between(start: date, end: date) -> list[date]:
    """Every day from start to end, both inclusive."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _product_of(transfer_type: str) -> Product | None:
    return next((p for p in PRODUCTS if transfer_type in p.types), None)


def day_figures(flows: Iterable[Flow]) -> Figures:
    """One day's figures from its flows."""
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    figures = Figures()
    revenue_accounts = {p.revenue_account.value: p.name for p in PRODUCTS}
    for flow in flows:
        by_type[flow.type][flow.account] += flow.amount
        if flow.account in revenue_accounts:
            figures.products[revenue_accounts[flow.account]].revenue += flow.amount
    for transfer_type, accounts in by_type.items():
        house = sum(accounts.values())
        excise = accounts.get(EXCISE_ACCOUNT, 0)
        withholding = accounts.get(WITHHOLDING_ACCOUNT, 0)
        figures.excise += excise
        figures.withholding += withholding
        product = _product_of(transfer_type)
        if product is not None:
            mine = figures.products[product.name]
            if transfer_type in product.stake_types:
                mine.stakes += house
            else:
                mine.payouts += withholding - house
            mine.excise += excise
            mine.withholding += withholding
        elif transfer_type.startswith(DEPOSIT_PREFIX):
            figures.deposit_excise += excise
        elif transfer_type.startswith(WITHDRAWAL_PREFIX):
            figures.withdrawal_withholding += withholding
    return figures


def build(
    start: date,
    end: date,
    flows: Sequence[Flow],
    regimes: dict[date, RegimeDay],
) -> Report:
    """The report over [start, end] (every day listed, quiet days as zeros)."""
    per_day: dict[date, list[Flow]] = defaultdict(list)
    for flow in flows:
        per_day[flow.day].append(flow)
    days = []
    totals = Figures()
    ggr_by_regime: dict[str, tuple[Decimal, int]] = {}
    for day in days_between(start, end):
        figures = day_figures(per_day.get(day, ()))
        regime = regimes[day]
        days.append(
            DayReport(day, regime, figures, round_half_up(max(0, figures.ggr), regime.ggr_rate))
        )
        totals.add(figures)
        rate, ggr = ggr_by_regime.get(regime.regime_id, (regime.ggr_rate, 0))
        ggr_by_regime[regime.regime_id] = (rate, ggr + figures.ggr)
    ggr_tax = sum(round_half_up(max(0, ggr), rate) for rate, ggr in ggr_by_regime.values())
    return Report(tuple(days), totals, ggr_tax)
