"""Tiny GeoLite2-Country-shaped databases for tests, written with mmdb-writer."""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Documentation and test ranges (RFC 5737 / RFC 3849), labelled as our countries.
RANGES = {
    "KE": ["192.0.2.0/24", "2001:db8:1::/48"],
    "NG": ["198.51.100.0/24"],
    "GH": ["203.0.113.0/24"],
    "GB": ["100.64.0.0/16"],
}


def write_country_db(path: Path, ranges: dict[str, list[str]] | None = None) -> Path:
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-Country",
        languages=["en"],
        description="letsbet test countries",
    )
    for code, networks in (ranges or RANGES).items():
        writer.insert_network(
            IPSet(networks), {"country": {"iso_code": code, "names": {"en": code}}}
        )
    writer.to_db_file(str(path))
    return path
