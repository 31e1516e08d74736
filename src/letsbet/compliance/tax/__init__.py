"""Taxes as effective-dated data per country, and the pure math of what each money event owes.

regime = regime_for("KE", now, overrides=TaxOverrides.from_settings(...))
stake_breakdown(regime, stake)                     excise at placement
payout_breakdown(regime, stake=..., payout=...)    withholding at payout
deposit_breakdown(regime, amount)                  excise on a deposit
withdrawal_breakdown(regime, amount)               withholding on a withdrawal
ggr_tax(regime, stakes=..., payouts=...)           the operator's GGR tax (reporting)
"""

from letsbet.compliance.tax.domain import (
    EXCISE_ACCOUNT,
    WITHHOLDING_ACCOUNT,
    DepositBreakdown,
    PayoutBreakdown,
    StakeBreakdown,
    TaxBase,
    TaxKind,
    TaxLine,
    TaxOverrides,
    TaxRegime,
    TaxRule,
    WithdrawalBreakdown,
    deposit_breakdown,
    ggr_tax,
    payout_breakdown,
    round_half_up,
    stake_breakdown,
    withdrawal_breakdown,
)
from letsbet.compliance.tax.regimes import (
    REGIMES,
    REGIMES_BY_ID,
    UnknownTaxRegime,
    legal_date,
    regime_by_id,
    regime_for,
    regimes_in_force,
)

__all__ = [
    "EXCISE_ACCOUNT",
    "REGIMES",
    "REGIMES_BY_ID",
    "WITHHOLDING_ACCOUNT",
    "DepositBreakdown",
    "PayoutBreakdown",
    "StakeBreakdown",
    "TaxBase",
    "TaxKind",
    "TaxLine",
    "TaxOverrides",
    "TaxRegime",
    "TaxRule",
    "UnknownTaxRegime",
    "WithdrawalBreakdown",
    "deposit_breakdown",
    "ggr_tax",
    "legal_date",
    "payout_breakdown",
    "regime_by_id",
    "regime_for",
    "regimes_in_force",
    "round_half_up",
    "stake_breakdown",
    "withdrawal_breakdown",
]
