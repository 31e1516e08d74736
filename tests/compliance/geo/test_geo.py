"""Geolocation: headers are believed only from trusted proxies; unknown, XX and Tor fail closed;
ALLOWED_COUNTRIES fences the platform; the travel policy decides whose country counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from letsbet.compliance.geo.domain import (
    Location,
    LocationMismatch,
    LocationNotAllowed,
    LocationUnknown,
    TravelPolicy,
    check_location,
    client_address,
    parse_networks,
)
from letsbet.compliance.geo.resolver import GeoResolver
from tests.compliance.geo.mmdb import write_country_db

PROXY = "10.0.0.5"
PROXIES = ["10.0.0.0/8", "2001:db8:cd::/48"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_country_db(tmp_path_factory.mktemp("geo") / "countries.mmdb")


@pytest.fixture
def resolver(db: Path) -> GeoResolver:
    return GeoResolver(db, trusted_proxies=PROXIES)


def test_the_database_answers_by_ip(resolver: GeoResolver) -> None:
    assert resolver.country_of("192.0.2.10") == "KE"
    assert resolver.country_of("198.51.100.7") == "NG"
    assert resolver.country_of("2001:db8:1::1") == "KE"
    assert resolver.country_of("8.8.8.8") is None
    assert resolver.country_of("not an ip") is None


def test_a_direct_client_is_located_by_its_own_address(resolver: GeoResolver) -> None:
    location = resolver.locate("192.0.2.10", {})
    assert (location.country, location.ip, location.source) == ("KE", "192.0.2.10", "geoip")


def test_a_forged_cdn_country_from_an_untrusted_peer_is_ignored(resolver: GeoResolver) -> None:
    forged = {"cf-ipcountry": "KE", "cloudfront-viewer-country": "KE"}
    location = resolver.locate("203.0.113.9", forged)  # a Ghanaian client claiming Kenya
    assert (location.country, location.source) == ("GH", "geoip")
    unknown = resolver.locate("8.8.8.8", forged)
    assert unknown.country is None
    with pytest.raises(LocationUnknown):
        check_location(unknown, home="KE", allowed=["KE"])


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(resolver: GeoResolver) -> None:
    location = resolver.locate("198.51.100.7", {"x-forwarded-for": "192.0.2.10"})
    assert (location.country, location.ip) == ("NG", "198.51.100.7")


def test_a_trusted_proxy_is_believed(resolver: GeoResolver) -> None:
    assert resolver.locate(PROXY, {"cf-ipcountry": "ng"}).country == "NG"
    assert resolver.locate(PROXY, {"cloudfront-viewer-country": "GH"}).source == (
        "cloudfront-viewer-country"
    )
    via_ip = resolver.locate(PROXY, {"cf-connecting-ip": "192.0.2.10"})
    assert (via_ip.country, via_ip.ip) == ("KE", "192.0.2.10")


def test_forwarded_for_takes_the_rightmost_hop_not_a_proxy(resolver: GeoResolver) -> None:
    # The client wrote the first hop (a Kenyan address) itself; the proxy appended the real one.
    headers = {"x-forwarded-for": "192.0.2.10, 198.51.100.7, 10.0.0.9"}
    location = resolver.locate(PROXY, headers)
    assert (location.country, location.ip) == ("NG", "198.51.100.7")
    garbled = resolver.locate(PROXY, {"x-forwarded-for": "192.0.2.10, junk"})
    assert garbled.country is None


@pytest.mark.parametrize("code", ["XX", "T1", "A1", "", "KEN"])
def test_unknown_tor_and_junk_codes_fail_closed(resolver: GeoResolver, code: str) -> None:
    location = resolver.locate(PROXY, {"cf-ipcountry": code})
    with pytest.raises(LocationUnknown):
        check_location(location, home="KE", allowed=["KE", "NG", "GH"])


def test_allowed_countries_and_travel_policy() -> None:
    abroad = Location("GB", "100.64.0.1", "geoip")
    with pytest.raises(LocationNotAllowed):
        check_location(abroad, home="KE", allowed=["KE", "NG", "GH"])
    in_nigeria = Location("NG", "198.51.100.7", "geoip")
    with pytest.raises(LocationMismatch):
        check_location(in_nigeria, home="KE", allowed=["KE", "NG", "GH"])
    travelling = Location("NG", "198.51.100.7", "geoip", TravelPolicy.ALLOWED)
    check_location(travelling, home="KE", allowed=["KE", "NG", "GH"])
    with pytest.raises(LocationNotAllowed):
        check_location(travelling, home="KE", allowed=["KE"])
    check_location(Location("KE", None, "cf-ipcountry"), home="KE", allowed=["KE"])


def test_without_a_database_only_trusted_headers_locate(tmp_path: Path) -> None:
    resolver = GeoResolver(None, trusted_proxies=PROXIES)
    assert resolver.locate("192.0.2.10", {}).country is None
    assert resolver.locate(PROXY, {"cf-ipcountry": "KE"}).country == "KE"
    assert GeoResolver(tmp_path / "missing.mmdb").reader is None


def test_client_address_without_proxies_is_the_peer() -> None:
    assert client_address("1.2.3.4", {"x-forwarded-for": "5.6.7.8"}, ()) == "1.2.3.4"
    assert client_address(None, {}, parse_networks(PROXIES)) is None
