"""The flight curve: m(t) = floor(100 * e^(0.00006 * t_ms)) / 100, and its inverse. Pure.

Multipliers are integer hundredths (1.26x -> 126) and time is integer milliseconds since take-off,
so the engine, every api replica and a client extrapolating between ticks compute the same
numbers. The forward function is the authority: `time_to_reach` is defined through it (the first
millisecond at which the curve shows the multiplier), never through its own floating-point
logarithm alone.
"""

from __future__ import annotations

import math

GROWTH_PER_MS = 0.00006
ONE = 100  # 1.00x in hundredths


def multiplier_at(elapsed_ms: int) -> int:
    """The multiplier shown `elapsed_ms` after take-off, in hundredths (>= 100)."""
    if elapsed_ms <= 0:
        return ONE
    return math.floor(100 * math.exp(GROWTH_PER_MS * elapsed_ms))


def time_to_reach(multiplier: int) -> int:
    """The first millisecond at which `multiplier_at` shows at least `multiplier`."""
    if multiplier <= ONE:
        return 0
    t = max(0, math.ceil(math.log(multiplier / 100) / GROWTH_PER_MS))
    # The logarithm may be off by one at a boundary: settle it against the forward function.
    while t > 0 and multiplier_at(t - 1) >= multiplier:
        t -= 1
    while multiplier_at(t) < multiplier:
        t += 1
    return t


def payout(stake: int, multiplier: int) -> int:
    """Stake x multiplier in minor units, rounded down to the minor unit (the house keeps the
    fraction, as bustabit does); exact integer arithmetic, no float."""
    if stake < 0 or multiplier < ONE:
        raise ValueError("stake must be >= 0 and the multiplier >= 1.00")
    return stake * multiplier // 100
