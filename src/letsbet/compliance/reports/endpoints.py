"""GET /api/admin/reports/tax: the tax and GGR report as JSON or CSV (admin, compliance)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from letsbet.accounts.domain import Role
from letsbet.accounts.tokens import Principal
from letsbet.compliance.reports import service
from letsbet.compliance.reports.domain import DayReport, Figures, Report
from letsbet.compliance.reports.products import PRODUCTS
from letsbet.platform.http.deps import Conn, require_role
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.money import Money
from letsbet.platform.observability import TAX_REPORTS
from letsbet.tenants import get_tenant

router = APIRouter(prefix="/api/admin/reports", tags=["compliance"])
Staff = Annotated[Principal, Depends(require_role(Role.ADMIN, Role.COMPLIANCE))]
_PRODUCT_COLUMNS = ("stakes", "payouts", "ggr", "revenue", "excise", "withholding")
_TAIL_COLUMNS = (
    "deposit_excise",
    "withdrawal_withholding",
    "other_excise",
    "other_withholding",
    "excise",
    "withholding",
    "ggr",
    "ggr_tax",
)
CSV_HEADER = (
    "date",
    "regime",
    "ggr_rate",
    *(f"{p.name}_{c}" for p in PRODUCTS for c in _PRODUCT_COLUMNS),
    *_TAIL_COLUMNS,
)


@router.get(
    "/tax",
    dependencies=[Depends(rate_limit("read"))],
    responses={
        200: {
            "content": {"application/json": {}, "text/csv": {}},
            "description": "JSON (TaxReportOut), or CSV with Accept: text/csv or format=csv.",
        },
        422: {"description": "invalid_report_period, validation_error"},
    },
)
async def tax_report(
    request: Request,
    conn: Conn,
    staff: Staff,
    since: Annotated[date, Query(alias="from", description="First legal day, YYYY-MM-DD.")],
    until: Annotated[date, Query(alias="to", description="Last legal day (inclusive).")],
    country: Annotated[Literal["KE", "NG", "GH"] | None, Query()] = None,
    format: Annotated[Literal["json", "csv"] | None, Query()] = None,
) -> Response:
    """Per legal day (the country's legal time: EAT, WAT, GMT) and in total: stakes, payouts,
    GGR and revenue per product, excise and withholding by source, the GGR tax, under the
    regime in force on each day. `country` defaults to the caller's."""
    code = country or staff.country
    report = await service.tax_report(conn, country=code, start=since, end=until)
    currency = get_tenant(code).currency
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    TAX_REPORTS.labels("csv" if wants_csv else "json").inc()
    if wants_csv:
        filename = f"letsbet-tax-{code}-{since.isoformat()}-{until.isoformat()}.csv"
        return Response(
            _csv(report, currency),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return JSONResponse(_json(report, code, currency, since, until))


def _fmt(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


def _figures(figures: Figures, ggr_tax: int, currency: str) -> dict[str, Any]:
    return {
        "products": {
            name: {
                "stakes": _fmt(p.stakes, currency),
                "payouts": _fmt(p.payouts, currency),
                "ggr": _fmt(p.ggr, currency),
                "revenue": _fmt(p.revenue, currency),
                "excise": _fmt(p.excise, currency),
                "withholding": _fmt(p.withholding, currency),
            }
            for name, p in figures.products.items()
        },
        "deposit_excise": _fmt(figures.deposit_excise, currency),
        "withdrawal_withholding": _fmt(figures.withdrawal_withholding, currency),
        "other_excise": _fmt(figures.other_excise, currency),
        "other_withholding": _fmt(figures.other_withholding, currency),
        "excise": _fmt(figures.excise, currency),
        "withholding": _fmt(figures.withholding, currency),
        "ggr": _fmt(figures.ggr, currency),
        "ggr_tax": _fmt(ggr_tax, currency),
    }


def _day(day: DayReport, currency: str) -> dict[str, Any]:
    return {
        "date": day.day.isoformat(),
        "regime": day.regime.regime_id,
        "ggr_rate": str(day.regime.ggr_rate),
        **_figures(day.figures, day.ggr_tax, currency),
    }


def _json(report: Report, country: str, currency: str, since: date, until: date) -> dict[str, Any]:
    offset = service.period_bounds(country, since, since)[2]
    hours = int(offset.total_seconds() // 3600)
    return {
        "country": country,
        "currency": currency,
        "utc_offset": f"{'+' if hours >= 0 else '-'}{abs(hours):02d}:00",
        "timezone": get_tenant(country).timezone,
        "from": since.isoformat(),
        "to": until.isoformat(),
        "regimes": list(dict.fromkeys(d.regime.regime_id for d in report.days)),
        "days": [_day(day, currency) for day in report.days],
        "totals": _figures(report.totals, report.ggr_tax, currency),
    }


def _row(label: str, regime: str, rate: str, figures: dict[str, Any]) -> list[str]:
    products = figures["products"]
    return [
        label,
        regime,
        rate,
        *(products[p.name][c] for p in PRODUCTS for c in _PRODUCT_COLUMNS),
        *(figures[c] for c in _TAIL_COLUMNS),
    ]


def _csv(report: Report, currency: str) -> bytes:
    """One row per day and a final `total` row; amounts in major units, RFC 4180 line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for day in report.days:
        figures = _figures(day.figures, day.ggr_tax, currency)
        writer.writerow(
            _row(day.day.isoformat(), day.regime.regime_id, str(day.regime.ggr_rate), figures)
        )
    regimes = " ".join(dict.fromkeys(d.regime.regime_id for d in report.days))
    totals = _figures(report.totals, report.ggr_tax, currency)
    writer.writerow(_row("total", regimes, "", totals))
    return out.getvalue().encode()
