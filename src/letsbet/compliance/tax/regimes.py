"""The tax regimes of KE, NG and GH as effective-dated data, and `regime_for` to pick by date.

Source of truth: the brief's tax table (docs: /work/shared/BRIEF.md, "Taxes"). Each row is the law
as written; `regime_for` merges the rows in force on a day into the one regime business code uses.
Windows are inclusive calendar dates in the country's legal time zone. To change a tax, add a row
with new dates; never edit a past row, settled bets were taxed under it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from letsbet.compliance.tax.domain import (
    TaxBase,
    TaxKind,
    TaxOverrides,
    TaxRegime,
    TaxRule,
)

START_OF_TIME = date.min


class UnknownTaxRegime(ValueError):
    """No regime is defined for this country on this day (a programmer error: callers pass
    only the countries letsbet serves)."""

    def __init__(self, country: str, day: date | None = None) -> None:
        when = "" if day is None else f" on {day.isoformat()}"
        super().__init__(f"no tax regime for country {country!r}{when}")
        self.country = country
        self.day = day


# Laws take effect at local midnight. EAT, WAT and GMT keep no daylight saving, so fixed offsets
# are exact (and need no tz database in a pure module); tests check them against the tenants.
LEGAL_UTC_OFFSETS: dict[str, timedelta] = {
    "KE": timedelta(hours=3),  # Africa/Nairobi
    "NG": timedelta(hours=1),  # Africa/Lagos
    "GH": timedelta(0),  # Africa/Accra
}


def _rule(kind: TaxKind, base: TaxBase, rate: str) -> TaxRule:
    return TaxRule(kind=kind, base=base, rate=Decimal(rate))


_EXCISE, _WHT = TaxKind.EXCISE, TaxKind.WITHHOLDING

# -- Kenya (KES) ---------------------------------------------------------------------------------
KE_SEED_2024 = TaxRegime(
    id="ke-seed-2024",
    country="KE",
    currency="KES",
    effective_from=START_OF_TIME,
    effective_to=date(2025, 6, 30),
    rules=(
        _rule(_EXCISE, TaxBase.STAKE, "0.15"),  # Excise Duty Act: 15% of the amount wagered
        _rule(_WHT, TaxBase.NET_WINNINGS, "0.20"),  # Income Tax Act: 20% WHT on winnings
    ),
    ggr_rate=Decimal(0),
    description="Kenya until 2025-06-30 (the seed's regime): 15% excise duty on each stake, "
    "20% withholding tax on net winnings (payout - stake).",
)
KE_FINANCE_ACT_2025 = TaxRegime(
    id="ke-2025-finance-act",
    country="KE",
    currency="KES",
    effective_from=date(2025, 7, 1),
    effective_to=None,
    rules=(
        # Finance Act 2025: excise moves from the stake to each deposit into the betting wallet,
        # and winnings are taxed when they leave it.
        _rule(_EXCISE, TaxBase.DEPOSIT, "0.05"),
        _rule(_WHT, TaxBase.WITHDRAWAL, "0.05"),
    ),
    ggr_rate=Decimal(0),
    description="Kenya Finance Act 2025, from 2025-07-01: 5% excise duty on each deposit into "
    "the betting wallet, 5% withholding tax on each withdrawal.",
)
KE_OPERATOR_GGR = TaxRegime(
    id="ke-operator-ggr",
    country="KE",
    currency="KES",
    effective_from=START_OF_TIME,
    effective_to=None,
    rules=(),
    ggr_rate=Decimal("0.15"),
    description="Kenya operator tax: 15% of gross gaming revenue (reporting).",
)

# -- Nigeria, Lagos State (NGN) ------------------------------------------------------------------
NG_LAGOS_WHT = TaxRegime(
    id="ng-lagos-wht",
    country="NG",
    currency="NGN",
    # Lagos State Lotteries and Gaming Authority Law 2021: 5% withholding on winnings. The law
    # dates from 2021 but LSLGA enforces it from 2026; the row follows the law. An operator told
    # not to withhold before enforcement sets TAX_WHT_RATE=0 (see TaxOverrides).
    effective_from=date(2021, 1, 1),
    effective_to=None,
    rules=(_rule(_WHT, TaxBase.NET_WINNINGS, "0.05"),),
    ggr_rate=Decimal(0),  # the brief sets no operator GGR tax for Lagos
    description="Lagos State Lotteries and Gaming Authority Law 2021: 5% withholding tax on net "
    "winnings at payout (enforced from 2026).",
)

# -- Ghana (GHS) ---------------------------------------------------------------------------------
GH_ACT_1094_WHT = TaxRegime(
    id="gh-act-1094-wht",
    country="GH",
    currency="GHS",
    # Income Tax (Amendment) Act 2023 (Act 1094): 10% withholding on winnings, deducted at payout
    # from 2023-08-15 (GRA's start date for betting); repealed with effect from 2025-03-26.
    # Base: net winnings (payout - stake). GRA calls it "gross winnings" but exempts any payout
    # <= stake (voids, refunds), i.e. the stake is never taxed; the Act's text was not at hand,
    # so we follow the brief's "winnings" as net. Switching to TaxBase.GROSS_WINNINGS is a
    # one-word data change if counsel reads the Act otherwise.
    effective_from=date(2023, 8, 15),
    effective_to=date(2025, 3, 25),
    rules=(_rule(_WHT, TaxBase.NET_WINNINGS, "0.10"),),
    ggr_rate=Decimal(0),
    description="Ghana Act 1094 (2023-08-15 to its repeal on 2025-03-26): 10% withholding tax "
    "on net winnings at payout.",
)
GH_OPERATOR_GGR = TaxRegime(
    id="gh-operator-ggr",
    country="GH",
    currency="GHS",
    effective_from=START_OF_TIME,
    effective_to=None,
    rules=(),
    ggr_rate=Decimal("0.20"),
    description="Ghana operator tax: 20% of gross gaming revenue (reporting).",
)

REGIMES: dict[str, tuple[TaxRegime, ...]] = {
    "KE": (KE_SEED_2024, KE_FINANCE_ACT_2025, KE_OPERATOR_GGR),
    "NG": (NG_LAGOS_WHT,),
    "GH": (GH_ACT_1094_WHT, GH_OPERATOR_GGR),
}
REGIMES_BY_ID: dict[str, TaxRegime] = {r.id: r for rows in REGIMES.values() for r in rows}


def regime_by_id(regime_id: str) -> TaxRegime:
    try:
        return REGIMES_BY_ID[regime_id]
    except KeyError:
        raise UnknownTaxRegime(regime_id) from None


def legal_date(country: str, at: date | datetime) -> date:
    """The calendar day `at` falls on in the country's legal time; datetimes must be aware."""
    code = _country(country)
    if not isinstance(at, datetime):
        return at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("pass an aware datetime (or a date): a naive one has no legal day")
    return at.astimezone(timezone(LEGAL_UTC_OFFSETS[code])).date()


def regimes_in_force(country: str, at: date | datetime) -> tuple[TaxRegime, ...]:
    """The rows of the table in force on that day, as written."""
    day = legal_date(country, at)
    return tuple(row for row in REGIMES[_country(country)] if row.in_force(day))


def regime_for(
    country: str, at: date | datetime, *, overrides: TaxOverrides | None = None
) -> TaxRegime:
    """The one regime in force in `country` at `at`, with `overrides` applied.

    It carries the id, rules and description of the player regime in force (or of the operator
    regime alone when players owe nothing, e.g. Ghana after 2025-03-26) and the operator's GGR
    rate. Its effective dates are the span over which this same regime applies.
    """
    code = _country(country)
    day = legal_date(code, at)
    rows = regimes_in_force(code, day)
    if not rows:
        raise UnknownTaxRegime(code, day)
    primary = next((row for row in rows if row.rules), rows[0])
    others = tuple(row for row in rows if row is not primary)
    start, end = _span(REGIMES[code], day)
    regime = TaxRegime(
        id=primary.id,
        country=code,
        currency=primary.currency,
        effective_from=start,
        effective_to=end,
        rules=tuple(rule for row in rows for rule in row.rules),
        ggr_rate=sum((row.ggr_rate for row in rows), Decimal(0)),
        description=" ".join(row.description for row in (primary, *others)),
    )
    return regime if overrides is None else overrides.apply(regime)


def _country(country: str) -> str:
    code = country.upper()
    if code not in REGIMES:
        raise UnknownTaxRegime(country)
    return code


def _span(rows: tuple[TaxRegime, ...], day: date) -> tuple[date, date | None]:
    """The widest window around `day` in which no row starts or ends: the merged regime's dates."""
    start, end = START_OF_TIME, None
    for row in rows:
        edges = [row.effective_from]
        if row.effective_to is not None and row.effective_to < date.max:
            edges.append(row.effective_to + timedelta(days=1))
        for edge in edges:
            if edge <= day:
                start = max(start, edge)
            else:
                last = edge - timedelta(days=1)
                end = last if end is None else min(end, last)
    return start, end
