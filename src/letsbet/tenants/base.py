"""What differs per country, as data. Business code asks the tenant; it never branches on codes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class PaymentProvider(StrEnum):
    MPESA = "mpesa"
    FLUTTERWAVE = "flutterwave"


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
    # Effective-dated tax regimes are data in compliance/tax, looked up by these ids.
    tax_regime_ids: tuple[str, ...] = field(default=())
    # Mobile money networks a player picks from (Flutterwave Ghana); empty: the provider's
    # own (M-Pesa) or a hosted checkout (Flutterwave Nigeria).
    payment_networks: tuple[str, ...] = field(default=())

    def id_number_valid(self, id_type: str, id_number: str) -> bool:
        pattern = self.kyc_id_types.get(id_type)
        return pattern is not None and re.fullmatch(pattern, id_number) is not None
