"""One crash game's rules, read from the settings (CRASH_* variables; see platform/config.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from letsbet.platform.config import Settings
from letsbet.platform.money import minor_units


@dataclass(frozen=True, slots=True)
class GameConfig:
    game_id: str
    salt: str | None  # None: no salt fixed yet, so no rounds are played
    edge: float  # percent, as the crash-point formula takes it
    betting_window: timedelta = timedelta(seconds=5)
    cooldown: timedelta = timedelta(seconds=3)
    tick: timedelta = timedelta(milliseconds=100)
    max_bets_per_player: int = 2
    max_profit: int = 1_000_000  # major units of each currency, per round

    def profit_cap(self, currency: str) -> int:
        """The round's max profit in minor units of `currency`."""
        return self.max_profit * int(10 ** minor_units(currency))


def game_configs(settings: Settings) -> dict[str, GameConfig]:
    """Every configured game by id, in the order configured."""
    return {
        game_id: GameConfig(
            game_id=game_id,
            salt=salt,
            edge=float(settings.crash_edge),
            betting_window=timedelta(seconds=settings.crash_betting_window_seconds),
            cooldown=timedelta(seconds=settings.crash_cooldown_seconds),
            tick=timedelta(milliseconds=settings.crash_tick_ms),
            max_bets_per_player=settings.crash_max_bets_per_round,
            max_profit=settings.crash_max_profit,
        )
        for game_id, salt in settings.crash_game_salts().items()
    }
