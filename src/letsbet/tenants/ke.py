"""Kenya: BCLB licence, M-Pesa, Smile ID Enhanced KYC on Kenyan ids."""

from letsbet.tenants.base import AmlThresholds, PaymentProvider, Tenant

KENYA = Tenant(
    code="KE",
    name="Kenya",
    currency="KES",
    minor_units=2,
    phone_region="KE",
    dialing_code=254,
    timezone="Africa/Nairobi",
    regulator="BCLB",
    payment_provider=PaymentProvider.MPESA,
    kyc_id_types={
        "NATIONAL_ID": r"^[0-9]{1,9}$",
        "ALIEN_CARD": r"^[0-9]{6,9}$",
        "PASSPORT": r"^[A-Z0-9]{7,9}$",
        "DRIVERS_LICENSE": r"^[A-Z0-9]{6,12}$",
        "KRA_PIN": r"^[A-Z]{1}[0-9]{9}[A-Z]{1}$",
    },
    min_age=18,
    min_stake=1_00,
    max_stake=500_000_00,
    min_deposit=10_00,
    max_deposit=250_000_00,  # M-Pesa's per-transaction ceiling
    max_payout=20_000_000_00,
    max_legs=30,
    deposit_cap_before_kyc=5_000_00,
    min_withdrawal=100_00,
    max_withdrawal=250_000_00,  # M-Pesa B2C per-transaction ceiling
    allow_betting_before_kyc=True,
    aml=AmlThresholds(
        large_deposit=100_000_00,
        very_large_deposit=200_000_00,
        large_withdrawal=100_000_00,
        very_large_withdrawal=200_000_00,
        quick_cashout_min=10_000_00,
    ),
    tax_regime_ids=("ke-2025-finance-act", "ke-operator-ggr"),
)
