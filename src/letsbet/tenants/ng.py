"""Nigeria (Lagos): LSLGA licence, Flutterwave, Smile ID on BVN/NIN."""

from letsbet.tenants.base import PaymentProvider, Tenant

NIGERIA = Tenant(
    code="NG",
    name="Nigeria",
    currency="NGN",
    minor_units=2,
    phone_region="NG",
    dialing_code=234,
    timezone="Africa/Lagos",
    regulator="LSLGA",
    payment_provider=PaymentProvider.FLUTTERWAVE,
    kyc_id_types={
        "BVN": r"^[0-9]{11}$",
        "NIN": r"^[0-9]{11}$",
        "NIN_V2": r"^[0-9]{11}$",
        "NIN_SLIP": r"^[0-9]{11}$",
        "V_NIN": r"^[0-9A-Z]{16}$",
        "PHONE_NUMBER": r"^[0-9]{11}$",
        "DRIVERS_LICENSE": r"^[a-zA-Z]{3}([ -]{1})?[A-Z0-9]{6,12}$",
        "VOTER_ID": r"^[a-zA-Z0-9 ]{9,19}$",
        "PASSPORT": r"^[A-Z][0-9]{8}$",
    },
    min_age=18,
    min_stake=100_00,
    max_stake=5_000_000_00,
    min_deposit=100_00,
    max_deposit=10_000_000_00,
    max_payout=100_000_000_00,
    max_legs=30,
    deposit_cap_before_kyc=50_000_00,
    min_withdrawal=1_000_00,
    max_withdrawal=5_000_000_00,
    allow_betting_before_kyc=True,
    tax_regime_ids=("ng-lagos-wht",),
)
