"""System bets: which combinations of legs a system stakes on. Pure, standard library only.

A system over n legs is a set of combination sizes; each size k stakes one line on every
combination of k legs, so the bet has sum(C(n, k)) lines, each staked `stake_per_line`.

    parse_system("2/3", 3)        -> (2,)            three doubles
    parse_system("yankee", 4)     -> (2, 3, 4)       6 doubles + 4 trebles + 1 four-fold = 11
    expand_lines(3, (2,))         -> [(0, 1), (0, 2), (1, 2)]

Errors:
    InvalidSystem(Unprocessable)   422 invalid_system   the player asked for a system that does
                                                        not exist or does not fit the selections

InvalidSystem is an `Unprocessable`, not a `ValueError`: the spec comes straight from the
request body, so a bad one is the player's mistake and must render as a 422 with a stable code.
Programmer errors (a size list that parse_system would never produce) raise ValueError.

Lucky 15/31/63 bonuses and consolations are promotions on top of the lines, not modelled here.
"""

from __future__ import annotations

import itertools
import math
import re

from letsbet.errors import Unprocessable

# Named full covers: name -> (legs, combination sizes). Singles are size 1.
NAMED_SYSTEMS: dict[str, tuple[int, tuple[int, ...]]] = {
    "trixie": (3, (2, 3)),  # 3 doubles + 1 treble = 4
    "patent": (3, (1, 2, 3)),  # 3 + 3 + 1 = 7
    "yankee": (4, (2, 3, 4)),  # 6 + 4 + 1 = 11
    "lucky15": (4, (1, 2, 3, 4)),  # 4 + 6 + 4 + 1 = 15
    "canadian": (5, (2, 3, 4, 5)),  # 10 + 10 + 5 + 1 = 26
    "super_yankee": (5, (2, 3, 4, 5)),  # the same bet as a canadian
    "lucky31": (5, (1, 2, 3, 4, 5)),  # 5 + 10 + 10 + 5 + 1 = 31
    "heinz": (6, (2, 3, 4, 5, 6)),  # 15 + 20 + 15 + 6 + 1 = 57
    "lucky63": (6, (1, 2, 3, 4, 5, 6)),  # 63
    "super_heinz": (7, (2, 3, 4, 5, 6, 7)),  # 120
    "goliath": (8, (2, 3, 4, 5, 6, 7, 8)),  # 247
}

# A "k/n" system over many legs explodes (C(20, 10) = 184,756 lines), and every line is a row
# written in the placement transaction. The largest named system (goliath) has 247 lines.
MAX_SYSTEM_LINES = 1024

# Names match ignoring case, spaces, hyphens and underscores: "Super Yankee", "lucky-15".
_NAMES = {name.replace("_", ""): name for name in NAMED_SYSTEMS}
_SEPARATORS = re.compile(r"[\s_-]+")
_K_OF_N = re.compile(r"([0-9]{1,3})\s*/\s*([0-9]{1,3})")  # ASCII digits only


class InvalidSystem(Unprocessable):
    code = "invalid_system"
    message = "This system bet is not valid for these selections."


def line_count(leg_count: int, sizes: tuple[int, ...]) -> int:
    """How many lines a system has: sum of C(leg_count, k) over its sizes."""
    _check_sizes(leg_count, sizes)
    return sum(math.comb(leg_count, k) for k in sizes)


def parse_system(spec: str, legs: int, *, max_lines: int = MAX_SYSTEM_LINES) -> tuple[int, ...]:
    """The combination sizes of the system `spec` over `legs` selections.

    `spec` is "k/n" (every combination of k legs out of n; n must equal `legs`, 1 <= k <= n) or a
    name from NAMED_SYSTEMS, whose leg count must equal `legs`. Raises InvalidSystem otherwise,
    or when the system would have more than `max_lines` lines.
    """
    if legs < 1:
        raise InvalidSystem("A system bet needs selections.", system=spec, legs=legs)
    text = spec.strip()
    k_of_n = _K_OF_N.fullmatch(text)
    if k_of_n is not None:
        k, n = int(k_of_n[1]), int(k_of_n[2])
        if n != legs:
            raise InvalidSystem(
                f"System {text} is for {n} selections but the bet has {legs}.",
                system=spec,
                legs=legs,
            )
        if not 1 <= k <= n:
            raise InvalidSystem(
                f"System {text}: k must be between 1 and {n}.", system=spec, legs=legs
            )
        sizes: tuple[int, ...] = (k,)
    else:
        name = _NAMES.get(_SEPARATORS.sub("", text).lower())
        if name is None:
            raise InvalidSystem(
                f"Unknown system {spec!r}: use k/n (like 2/3) or one of "
                f"{', '.join(NAMED_SYSTEMS)}.",
                system=spec,
                legs=legs,
            )
        needed, sizes = NAMED_SYSTEMS[name]
        if needed != legs:
            raise InvalidSystem(
                f"A {name} needs exactly {needed} selections; the bet has {legs}.",
                system=spec,
                legs=legs,
            )
    count = line_count(legs, sizes)
    if count > max_lines:
        raise InvalidSystem(
            f"System {text} has {count} lines; at most {max_lines} are allowed.",
            system=spec,
            legs=legs,
        )
    return sizes


def expand_lines(leg_count: int, sizes: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every line of a system as a tuple of leg indexes (0-based, ascending).

    Deterministic order, stored as line numbers: by size ascending, then lexicographic.
    """
    _check_sizes(leg_count, sizes)
    return [line for k in sorted(sizes) for line in itertools.combinations(range(leg_count), k)]


def _check_sizes(leg_count: int, sizes: tuple[int, ...]) -> None:
    if leg_count < 1:
        raise ValueError(f"leg_count must be >= 1, got {leg_count}")
    if not sizes or len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes must be non-empty and distinct, got {sizes}")
    if any(not 1 <= k <= leg_count for k in sizes):
        raise ValueError(f"sizes must be between 1 and {leg_count}, got {sizes}")
