"""Provably fair crash points, compatible with bustabit's published scheme. Pure: no I/O.

The chain: h_N is 32 random bytes; h_(i-1) = SHA-256 of the lowercase hex string of h_i, down
to h_0, the terminating hash, published before any round is played (the commitment). Game n
uses h_n, so games consume the chain in reverse: game 1's hash is the one whose SHA-256 is h_0.
Anyone holding a revealed game hash can hash it forward to h_0 and count the steps.

The crash point (bustabit's `gameResult`, as public verifiers compute it):

    h = HMAC-SHA256(key = salt ASCII, message = the raw 32 bytes of the game hash)
    r = the first 52 bits of h (13 hex digits);  X = r / 2^52
    X = (100 - edge) / (1 - X)                   edge in percent (default 1, so 99 / (1 - X))
    crash point = max(1, floor(X) / 100)

in IEEE double arithmetic exactly as written (Python floats are IEEE doubles, as JavaScript's
numbers are); crash points are carried as integer hundredths (1.26 -> 126).

Storage without N rows: the server keeps every K-th link (a checkpoint) sealed under a key held
outside the database, so any game's hash is rebuilt from the checkpoint above it in < K hashes.
A checkpoint is as secret as the seed (it yields every earlier link, i.e. games still to be
played), hence the sealing: XOR with HMAC-SHA256(key, terminating hash || link number), a PRF
used as a one-time pad (each position of each chain is sealed once, so no pad is ever reused).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256

HASH_HEX = re.compile(r"^[0-9a-f]{64}$")
DEFAULT_EDGE = 1.0
DEFAULT_CHECKPOINT_EVERY = 1000
_TWO_52 = float(2**52)
_BLOCK = 64  # SHA-256's block size, in bytes


class InvalidHash(ValueError):
    """Not 64 lowercase hex characters."""


def check_hash(value: str) -> str:
    """The hash in canonical (lowercase) form; InvalidHash if it is not 64 hex characters."""
    canonical = value.strip().lower()
    if not HASH_HEX.match(canonical):
        raise InvalidHash("a game hash is 64 hexadecimal characters")
    return canonical


def previous_link(game_hash: str) -> str:
    """h_(i-1) from h_i: SHA-256 of the lowercase hex string (the hash of the game before)."""
    return sha256(game_hash.encode("ascii")).hexdigest()


def walk(game_hash: str, steps: int) -> str:
    """Apply `previous_link` `steps` times."""
    h = game_hash
    for _ in range(steps):
        h = sha256(h.encode("ascii")).hexdigest()
    return h


# -- crash points ------------------------------------------------------------------------------
def check_edge(edge: float) -> float:
    edge = float(edge)
    if not 0 <= edge < 100:  # also refuses NaN
        raise ValueError("the house edge is a percentage from 0 to below 100")
    return edge


def crash_point(game_hash: str, salt: str, edge: float = DEFAULT_EDGE) -> int:
    """The game's crash point in hundredths (126 means 1.26x)."""
    return CrashPoints(salt, edge).of(game_hash)


class CrashPoints:
    """Crash points under one salt and edge, fast: verifying a chain computes millions.

    HMAC as RFC 2104 defines it, H((K ^ opad) || H((K ^ ipad) || m)), with both padded-key
    states hashed once here and copied per game (twice as fast as `hmac.new` per call; tests
    check it against `hmac`).
    """

    __slots__ = ("_inner", "_numerator", "_outer")

    def __init__(self, salt: str, edge: float = DEFAULT_EDGE) -> None:
        key = salt.encode("ascii")
        if len(key) > _BLOCK:
            key = sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = sha256(bytes(b ^ 0x36 for b in key))
        self._outer = sha256(bytes(b ^ 0x5C for b in key))
        self._numerator = 100.0 - check_edge(edge)

    def of(self, game_hash: str) -> int:
        inner = self._inner.copy()
        inner.update(bytes.fromhex(game_hash))
        outer = self._outer.copy()
        outer.update(inner.digest())
        r = int.from_bytes(outer.digest()[:7]) >> 4  # the first 52 bits
        return _point(r, self._numerator)


def point_from_bits(r: int, edge: float = DEFAULT_EDGE) -> int:
    """The crash point (hundredths) for the HMAC's first 52 bits `r`."""
    if not 0 <= r < 2**52:
        raise ValueError("r is a 52-bit number")
    return _point(r, 100.0 - check_edge(edge))


def _point(r: int, numerator: float) -> int:
    x = r / _TWO_52  # uniform in [0, 1)
    x = numerator / (1 - x)
    return max(100, int(x))  # x > 0, so int() is floor()


def format_multiplier(hundredths: int) -> str:
    """126 -> "1.26" (crash points and multipliers on the wire and in the CLI)."""
    return f"{hundredths // 100}.{hundredths % 100:02d}"


# -- the chain ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Chain:
    """A generated chain: its commitment and its checkpoints (link number -> hash hex).

    Checkpoints are every `every`-th link and the last one (the seed), so link n is rebuilt
    from checkpoint `checkpoint_for(n)` in fewer than `every` hashes.
    """

    terminating_hash: str
    length: int
    every: int
    checkpoints: dict[int, str]


def generate_chain(seed: bytes, length: int, *, every: int = DEFAULT_CHECKPOINT_EVERY) -> Chain:
    """Hash down from the seed (h_length) to the terminating hash h_0 (`length` hashes)."""
    if len(seed) != 32:
        raise ValueError("the seed is 32 random bytes")
    if length < 1 or every < 1:
        raise ValueError("length and checkpoint interval must be positive")
    h = seed.hex()
    checkpoints = {length: h}
    link = length
    # Inner loop without per-link bookkeeping: 10,000,000 links take seconds, not minutes.
    while link > 0:
        steps = link % every or every
        for _ in range(steps):
            h = sha256(h.encode("ascii")).hexdigest()
        link -= steps
        if link > 0:
            checkpoints[link] = h
    return Chain(terminating_hash=h, length=length, every=every, checkpoints=checkpoints)


def checkpoint_for(link: int, *, length: int, every: int) -> int:
    """The checkpoint a link is rebuilt from: the nearest multiple of `every` at or above it,
    or the seed (link `length`)."""
    if not 1 <= link <= length:
        raise ValueError(f"link {link} is outside the chain 1..{length}")
    return min(length, -(-link // every) * every)


def links_down(checkpoint_hash: str, checkpoint: int, down_to: int) -> list[str]:
    """Hashes of links checkpoint, checkpoint-1, ..., down_to (inclusive), highest first."""
    out = [checkpoint_hash]
    h = checkpoint_hash
    for _ in range(checkpoint - down_to):
        h = sha256(h.encode("ascii")).hexdigest()
        out.append(h)
    return out


def verify_chain(game_hash: str, terminating_hash: str, *, max_games: int) -> int | None:
    """The game number of `game_hash` in the chain ending in `terminating_hash`: how many
    hashes lead from it to the terminating hash (at most `max_games`), else None."""
    h = check_hash(game_hash)
    target = check_hash(terminating_hash)
    for n in range(1, max_games + 1):
        h = sha256(h.encode("ascii")).hexdigest()
        if h == target:
            return n
    return None


def iter_games(game_hash: str, count: int) -> Iterator[str]:
    """This game's hash and those of the `count - 1` games before it, newest first."""
    h = game_hash
    for _ in range(count):
        yield h
        h = sha256(h.encode("ascii")).hexdigest()


# -- sealing checkpoints -------------------------------------------------------------------------
def derive_key(secret: str) -> bytes:
    """The 32-byte sealing key from the configured secret (CRASH_CHAIN_KEY)."""
    return hashlib.sha256(b"letsbet-crash-chain-key:" + secret.encode()).digest()


def _pad(key: bytes, terminating_hash: str, link: int) -> bytes:
    return hmac.digest(key, f"seal:{terminating_hash}:{link}".encode(), "sha256")


def seal(key: bytes, terminating_hash: str, link: int, link_hash: str) -> bytes:
    """A checkpoint as stored: 32 bytes that reveal nothing without the key."""
    return bytes(
        a ^ b
        for a, b in zip(bytes.fromhex(link_hash), _pad(key, terminating_hash, link), strict=True)
    )


def unseal(key: bytes, terminating_hash: str, link: int, sealed: bytes) -> str:
    return bytes(
        a ^ b for a, b in zip(sealed, _pad(key, terminating_hash, link), strict=True)
    ).hex()


def key_check(key: bytes, terminating_hash: str) -> str:
    """Stored beside a chain so a wrong key fails loudly instead of yielding wrong hashes."""
    return hmac.digest(key, f"check:{terminating_hash}".encode(), "sha256").hex()[:16]
