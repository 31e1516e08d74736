"""Tax and GGR report use case: which days, which regime on each, the flows, the arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.reports import repository as repo
from letsbet.compliance.reports.domain import MAX_DAYS, RegimeDay, Report, build, days_between
from letsbet.compliance.tax import regime_for
from letsbet.compliance.tax.regimes import LEGAL_UTC_OFFSETS
from letsbet.errors import Unprocessable
from letsbet.tenants import get_tenant


class InvalidReportPeriod(Unprocessable):
    code = "invalid_report_period"
    message = f"`from` must not be after `to`, and a report covers at most {MAX_DAYS} days."


def period_bounds(country: str, start: date, end: date) -> tuple[datetime, datetime, timedelta]:
    """[start 00:00, end + 1 day 00:00) in the country's legal time, as UTC instants, and the
    offset. Legal time is the tax engine's (regimes.LEGAL_UTC_OFFSETS: EAT, WAT, GMT; none
    keeps daylight saving), so every reported day falls under exactly one regime."""
    offset = LEGAL_UTC_OFFSETS[country]
    zone = timezone(offset)
    since = datetime.combine(start, time(0), zone).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC)
    return since, until, offset


async def tax_report(conn: AsyncConnection, *, country: str, start: date, end: date) -> Report:
    """Per legal day in [start, end] and in total: stakes, payouts and GGR per product, excise
    and withholding by source, under the regime in force on each day."""
    if end < start or (end - start).days + 1 > MAX_DAYS:
        raise InvalidReportPeriod()
    tenant = get_tenant(country)
    since, until, offset = period_bounds(tenant.code, start, end)
    flows = await repo.house_flows(
        conn,
        country=tenant.code,
        currency=tenant.currency,
        since=since,
        until=until,
        utc_offset=offset,
    )
    regimes = {}
    for day in days_between(start, end):
        regime = regime_for(tenant.code, day)
        regimes[day] = RegimeDay(regime.id, regime.ggr_rate)
    return build(start, end, flows, regimes)
