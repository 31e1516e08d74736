"""Ghana: Gaming Commission licence, Flutterwave, Smile ID on the Ghana Card."""

from letsbet.tenants.base import AmlThresholds, PaymentProvider, Tenant

GHANA = Tenant(
    code="GH",
    name="Ghana",
    currency="GHS",
    minor_units=2,
    phone_region="GH",
    dialing_code=233,
    timezone="Africa/Accra",
    regulator="Gaming Commission of Ghana",
    payment_provider=PaymentProvider.FLUTTERWAVE,
    kyc_id_types={
        "NATIONAL_ID": r"^GHA-[A-Z0-9]{9}-[A-Z0-9]$",
        "GHANA_CARD": r"^GHA-[A-Z0-9]{9}-[A-Z0-9]$",
        "PASSPORT": r"^G[A-Z0-9]{7,9}$",
        "SSNIT": r"^[a-zA-Z]{1}[a-zA-Z0-9]{12,14}$",
        "VOTER_ID": r"^[0-9]{10,12}$",
        "DRIVERS_LICENSE": r"^[a-zA-Z0-9]{6,10}$",
    },
    min_age=18,
    min_stake=1_00,
    max_stake=100_000_00,
    min_deposit=1_00,
    max_deposit=50_000_00,
    max_payout=2_000_000_00,
    max_legs=30,
    deposit_cap_before_kyc=1_000_00,
    min_withdrawal=10_00,
    max_withdrawal=20_000_00,
    allow_betting_before_kyc=True,
    aml=AmlThresholds(
        large_deposit=10_000_00,
        very_large_deposit=25_000_00,
        large_withdrawal=10_000_00,
        very_large_withdrawal=20_000_00,
        quick_cashout_min=1_000_00,
    ),
    tax_regime_ids=("gh-act-1094-wht", "gh-operator-ggr"),
    payment_networks=("MTN", "VODAFONE", "TIGO"),  # Flutterwave's names; Telecel is VODAFONE
)
