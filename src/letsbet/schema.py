"""Imports every table module so `metadata` knows the whole schema (for Alembic)."""

from letsbet.accounts import tables as _accounts  # noqa: F401
from letsbet.compliance.aml import tables as _aml  # noqa: F401
from letsbet.compliance.audit import tables as _audit  # noqa: F401
from letsbet.compliance.kyc import tables as _kyc  # noqa: F401
from letsbet.compliance.responsible_gaming import tables as _rg  # noqa: F401
from letsbet.crash import tables as _crash  # noqa: F401
from letsbet.ledger import tables as _ledger  # noqa: F401
from letsbet.payments import tables as _payments  # noqa: F401
from letsbet.platform.bus import tables as _bus  # noqa: F401
from letsbet.platform.db import metadata
from letsbet.sportsbook.bets import tables as _bets  # noqa: F401
from letsbet.sportsbook.catalogue import tables as _catalogue  # noqa: F401

__all__ = ["metadata"]
