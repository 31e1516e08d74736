"""Where a request comes from: trusted CDN headers, else MaxMind GeoLite2-Country via geoip2.

One reader per process (GEOIP_DB_PATH, memory-mapped by maxminddb). Without the database the
platform starts with a warning and relies on trusted CDN country headers; every other request
then has an unknown location, which money endpoints refuse (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors

from letsbet.compliance.geo.domain import (
    Location,
    Network,
    TravelPolicy,
    client_address,
    header_country,
    parse_networks,
)
from letsbet.platform.observability import get_logger

log = get_logger(__name__)
_EXTRA_KEY = "compliance.geo"


class GeoResolver:
    def __init__(
        self,
        db_path: Path | None,
        *,
        trusted_proxies: Sequence[str] = (),
        travel: TravelPolicy = TravelPolicy.HOME,
    ) -> None:
        self.proxies: tuple[Network, ...] = parse_networks(trusted_proxies)
        self.travel = travel
        self.reader: geoip2.database.Reader | None = None
        if db_path is None:
            log.warning("geo.no_database", hint="set GEOIP_DB_PATH; relying on CDN headers")
        elif not db_path.is_file():
            log.warning("geo.database_missing", path=str(db_path))
        else:
            self.reader = geoip2.database.Reader(str(db_path))
            log.info("geo.database_loaded", path=str(db_path))

    def country_of(self, ip: str | None) -> str | None:
        if self.reader is None or ip is None:
            return None
        try:
            return self.reader.country(ip).country.iso_code
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return None

    def locate(self, peer: str | None, headers: Mapping[str, str]) -> Location:
        """The request's location. Headers count only from a trusted proxy (see domain)."""
        ip = client_address(peer, headers, self.proxies)
        from_header = header_country(peer, headers, self.proxies)
        if from_header is not None:
            return Location(from_header[0], ip, from_header[1], self.travel)
        country = self.country_of(ip)
        return Location(country, ip, "geoip" if country else "none", self.travel)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()


def resolver_of(runtime: Any) -> GeoResolver:
    """The process's resolver, created on first use (runtime.extras holds it)."""
    resolver = runtime.extras.get(_EXTRA_KEY)
    if resolver is None:
        settings = runtime.settings
        resolver = GeoResolver(
            settings.geoip_db_path,
            trusted_proxies=settings.geo_trusted_proxies,
            travel=TravelPolicy(settings.geo_travel_policy),
        )
        runtime.extras[_EXTRA_KEY] = resolver
    assert isinstance(resolver, GeoResolver)
    return resolver
