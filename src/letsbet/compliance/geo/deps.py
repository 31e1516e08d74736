"""The location a money endpoint passes to eligibility: None when geofencing is off."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from letsbet.compliance.geo.domain import Location
from letsbet.compliance.geo.resolver import resolver_of


def location_of(connection: HTTPConnection) -> Location | None:
    """Works for HTTP requests and WebSockets alike (crash bets come over both)."""
    runtime = connection.app.state.runtime
    if not runtime.settings.geofenced:
        return None
    peer = connection.client.host if connection.client else None
    return resolver_of(runtime).locate(peer, connection.headers)


async def money_location(connection: HTTPConnection) -> Location | None:
    return location_of(connection)


MoneyLocation = Annotated[Location | None, Depends(money_location)]
