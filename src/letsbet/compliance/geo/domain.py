"""Geolocation rules, pure: which country a request comes from and whether money may move.

Headers that name a country or a client IP (CF-IPCountry, CloudFront-Viewer-Country,
CF-Connecting-IP, X-Forwarded-For) are believed only when the TCP peer is one of the operator's
trusted proxies; from anyone else they are ignored, since any client can send them. An unknown
country, Cloudflare's XX (unknown) and T1 (Tor) fail closed on money endpoints.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from letsbet.errors import Forbidden

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN_CODES = frozenset({"XX", "T1", "A1", "A2", "O1", "ZZ", ""})  # unknown, Tor, proxies
COUNTRY_HEADERS = ("cf-ipcountry", "cloudfront-viewer-country")


class TravelPolicy(StrEnum):
    HOME = "home"  # money actions only from the player's own country
    ALLOWED = "allowed"  # from any country the platform is open in


class LocationUnknown(Forbidden):
    code = "location_unknown"
    message = "We could not tell where you are; money actions need a known location."


class LocationNotAllowed(Forbidden):
    code = "location_not_allowed"
    message = "letsbet is not available where you are."


class LocationMismatch(Forbidden):
    code = "location_mismatch"
    message = "Money actions must be made from your own country."


@dataclass(frozen=True, slots=True)
class Location:
    country: str | None  # ISO 3166-1 alpha-2, or None when unknown
    ip: str | None
    source: str  # header name, "geoip", or "none"
    travel: TravelPolicy = TravelPolicy.HOME  # the policy it is judged by (GEO_TRAVEL_POLICY)


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) of the trusted proxies; raises ValueError on a bad one."""
    return tuple(
        ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip()
    )


def _ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def trusted(peer: str | None, proxies: Sequence[Network]) -> bool:
    address = _ip(peer)
    return address is not None and any(address in network for network in proxies)


def client_address(
    peer: str | None, headers: Mapping[str, str], proxies: Sequence[Network]
) -> str | None:
    """The client's IP: the peer itself, unless the peer is a trusted proxy, in which case
    CF-Connecting-IP, else the right-most X-Forwarded-For hop that is not a trusted proxy
    (hops left of it were written by the client and may be forged)."""
    if not trusted(peer, proxies):
        return peer
    connecting = _ip(headers.get("cf-connecting-ip"))
    if connecting is not None:
        return str(connecting)
    hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            return None  # a garbled chain: trust none of it
        if not any(address in network for network in proxies):
            return str(address)
    return peer


def header_country(
    peer: str | None, headers: Mapping[str, str], proxies: Sequence[Network]
) -> tuple[str, str] | None:
    """(country, header) from a trusted CDN's country header, or None."""
    if not trusted(peer, proxies):
        return None
    for name in COUNTRY_HEADERS:
        value = headers.get(name)
        if value is not None:
            return value.strip().upper(), name
    return None


def check_location(location: Location, *, home: str, allowed: Sequence[str]) -> None:
    """Fail closed: unknown, Tor and anonymous-proxy codes refuse; ALLOWED_COUNTRIES fences the
    platform; under the home policy a player moves money only from their own country."""
    country = (location.country or "").upper()
    if country in UNKNOWN_CODES or len(country) != 2:
        raise LocationUnknown(country=location.country)
    if country not in allowed:
        raise LocationNotAllowed(country=country)
    if location.travel == TravelPolicy.HOME and country != home:
        raise LocationMismatch(country=country, home=home)
