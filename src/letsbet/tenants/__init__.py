"""Country tenants: one deployment per country, each described by a `Tenant`."""

from letsbet.errors import Forbidden
from letsbet.tenants.base import AmlThresholds, PaymentProvider, Tenant
from letsbet.tenants.gh import GHANA
from letsbet.tenants.ke import KENYA
from letsbet.tenants.ng import NIGERIA

TENANTS: dict[str, Tenant] = {t.code: t for t in (KENYA, NIGERIA, GHANA)}


class CountryNotAllowed(Forbidden):
    code = "country_not_allowed"
    message = "letsbet is not available in this country."


def get_tenant(code: str) -> Tenant:
    tenant = TENANTS.get(code.upper())
    if tenant is None:
        raise CountryNotAllowed(f"Unknown country {code!r}; letsbet serves KE, NG and GH.")
    return tenant


__all__ = [
    "TENANTS",
    "AmlThresholds",
    "CountryNotAllowed",
    "PaymentProvider",
    "Tenant",
    "get_tenant",
]
