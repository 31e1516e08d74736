"""What differs per country, as data. Business code asks the tenant; it never branches on codes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum


class PaymentProvider(StrEnum):
    MPESA = "mpesa"
    FLUTTERWAVE = "flutterwave"


@dataclass(frozen=True, slots=True)
class AmlThresholds:
    """When AML monitoring (compliance/aml) raises an alert. Amounts in minor units of the
    tenant's currency. These are the operator's risk settings, set well below the statutory
    cash-reporting thresholds so staff see a pattern before a report is due."""

    large_deposit: int  # one deposit this large: medium
    very_large_deposit: int  # ... this large: high (freezes withdrawals)
    large_withdrawal: int
    very_large_withdrawal: int
    # Deposit then withdrawal with little wagering: a withdrawal of at least `quick_cashout_min`
    # when the player staked less than `min_wagered_percent` of what they deposited within
    # `turnover_window` (high: the classic way to clean money through a wallet).
    quick_cashout_min: int
    min_wagered_percent: int = 50
    turnover_window: timedelta = timedelta(days=7)
    # Many deposits in a short time (structuring below the large-deposit line): medium.
    velocity_deposits: int = 5
    velocity_window: timedelta = timedelta(hours=1)
    # One registration/login IP, device id or payment phone behind this many accounts
    # (counting the player's own): medium; `shared_accounts_high` or more: high.
    shared_accounts: int = 3
    shared_accounts_high: int = 6


@dataclass(frozen=True, slots=True)
class Tenant:
    code: str  # ISO 3166-1 alpha-2
    name: str
    currency: str  # ISO 4217
    minor_units: int  # decimals of the currency
    phone_region: str  # `phonenumbers` region
    dialing_code: int
    timezone: str
    regulator: str
    payment_provider: PaymentProvider
    kyc_id_types: dict[str, str]  # Smile ID id_type → accepted id_number pattern
    min_age: int
    # Limits in minor units of `currency`.
    min_stake: int
    max_stake: int
    min_deposit: int
    max_deposit: int
    deposit_cap_before_kyc: int  # total deposits a player may make before KYC
    min_withdrawal: int
    max_withdrawal: int
    max_payout: int  # largest return one bet may pay
    max_legs: int  # legs in a multi or system
    allow_betting_before_kyc: bool
    aml: AmlThresholds
    # Effective-dated tax regimes are data in compliance/tax, looked up by these ids.
    tax_regime_ids: tuple[str, ...] = field(default=())
    # Mobile money networks a player picks from (Flutterwave Ghana); empty: the provider's
    # own (M-Pesa) or a hosted checkout (Flutterwave Nigeria).
    payment_networks: tuple[str, ...] = field(default=())

    def id_number_valid(self, id_type: str, id_number: str) -> bool:
        pattern = self.kyc_id_types.get(id_type)
        return pattern is not None and re.fullmatch(pattern, id_number) is not None
