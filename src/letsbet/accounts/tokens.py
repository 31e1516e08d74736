"""JWT access and refresh tokens: distinct types, issuer, audience and expiry always checked."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from letsbet.accounts.domain import Role
from letsbet.errors import Unauthorized

TokenType = Literal["access", "refresh"]
_ALGORITHM = "HS256"
# Verified access tokens by (secret, issuer, audience, token): a secret rotated on SIGHUP
# misses the cache. Bounded; the oldest entry goes first.
_VERIFIED_MAX = 10_000
_verified: dict[tuple[str, str, str, str], tuple[Principal, int]] = {}


class InvalidToken(Unauthorized):
    code = "invalid_token"
    message = "The token is invalid; log in again."


class TokenExpired(Unauthorized):
    code = "token_expired"
    message = "The token has expired; refresh it or log in again."


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: taken from a verified access token."""

    user_id: uuid.UUID
    role: Role
    country: str
    token_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    token_id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenSigner:
    secret: str
    issuer: str
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta

    def access_token(self, *, user_id: uuid.UUID, role: Role, country: str, now: datetime) -> str:
        return self._encode(
            {"typ": "access", "sub": str(user_id), "role": role.value, "cty": country},
            now,
            self.access_ttl,
            uuid.uuid4(),
        )

    def refresh_token(
        self, *, user_id: uuid.UUID, token_id: uuid.UUID, family_id: uuid.UUID, now: datetime
    ) -> str:
        return self._encode(
            {"typ": "refresh", "sub": str(user_id), "fam": str(family_id)},
            now,
            self.refresh_ttl,
            token_id,
        )

    def _encode(
        self, claims: dict[str, Any], now: datetime, ttl: timedelta, token_id: uuid.UUID
    ) -> str:
        body = {
            **claims,
            "iss": self.issuer,
            "aud": self.audience,
            "jti": str(token_id),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()) - 5,
            "exp": int((now + ttl).timestamp()),
        }
        return jwt.encode(body, self.secret, algorithm=_ALGORITHM)

    def _decode(self, token: str, expected: TokenType) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.PyJWTError:
            raise InvalidToken() from None
        if claims.get("typ") != expected:
            raise InvalidToken(f"An {expected} token is required here.")
        return claims

    def verify_access(self, token: str) -> Principal:
        """The caller of a valid access token; raises InvalidToken or TokenExpired.

        A token that verified once is answered from a small cache until it expires: the
        signature and claims of the same string under the same key cannot change, and checking
        them costs more than the rest of a typical request's own work at the edge.
        """
        cache_key = (self.secret, self.issuer, self.audience, token)
        cached = _verified.get(cache_key)
        if cached is not None:
            principal, expires = cached
            if time.time() >= expires:  # PyJWT's rule: expired from the `exp` second on
                del _verified[cache_key]
                raise TokenExpired()
            return principal
        claims = self._decode(token, "access")
        try:
            principal = Principal(
                user_id=uuid.UUID(claims["sub"]),
                role=Role(claims["role"]),
                country=str(claims["cty"]),
                token_id=uuid.UUID(claims["jti"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (KeyError, ValueError):
            raise InvalidToken() from None
        if len(_verified) >= _VERIFIED_MAX:
            del _verified[next(iter(_verified))]  # the oldest entry
        _verified[cache_key] = (principal, int(claims["exp"]))
        return principal

    def verify_refresh(self, token: str) -> RefreshClaims:
        claims = self._decode(token, "refresh")
        try:
            return RefreshClaims(
                token_id=uuid.UUID(claims["jti"]),
                family_id=uuid.UUID(claims["fam"]),
                user_id=uuid.UUID(claims["sub"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (KeyError, ValueError):
            raise InvalidToken() from None
