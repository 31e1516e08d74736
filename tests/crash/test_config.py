"""CRASH_* settings: parsing, validation that names the variable, and the games they make."""

from __future__ import annotations

from datetime import timedelta

import pytest

from letsbet.crash.config import game_configs
from letsbet.platform.config import DEV_CRASH_SALT, ConfigError, load_settings


def test_defaults_make_one_game_with_the_development_salt() -> None:
    settings = load_settings(_env_file=None, environment="development")
    games = game_configs(settings)
    assert list(games) == ["crash"]
    game = games["crash"]
    assert (game.salt, game.edge, game.max_bets_per_player) == (DEV_CRASH_SALT, 1.0, 2)
    assert (game.betting_window, game.cooldown, game.tick) == (
        timedelta(seconds=5),
        timedelta(seconds=3),
        timedelta(milliseconds=100),
    )
    assert game.profit_cap("KES") == 1_000_000_00


def test_games_with_their_own_salts() -> None:
    settings = load_settings(
        _env_file=None,
        environment="staging",
        jwt_secret="j" * 40,
        crash_chain_key="c" * 40,
        crash_games="crash:000000000000000000030587dd9ded1fcc5d603652da58deb670319bd2e09445,turbo",
        crash_edge="2.5",
        crash_max_profit=5000,
    )
    games = game_configs(settings)
    assert games["crash"].salt.startswith("0000000000")  # type: ignore[union-attr]
    assert games["turbo"].salt is None  # staging: no development salt, so no rounds yet
    assert games["turbo"].edge == 2.5 and games["turbo"].profit_cap("NGN") == 5000_00


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("crash_games", "Crash"),
        ("crash_games", "a,a"),
        ("crash_games", "rounds"),
        ("crash_games", "x:sa lt"),
        ("crash_salt", "sél"),
        ("crash_edge", "50"),
        ("crash_edge", "1.234"),
        ("crash_betting_window_seconds", "0"),
        ("crash_max_bets_per_round", "0"),
        ("crash_max_profit", "0"),
        ("crash_tick_ms", "10"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **{variable: value})
    assert caught.value.variable == variable.upper()


def test_staging_and_production_need_their_own_chain_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, environment="staging", jwt_secret="j" * 40)
    assert caught.value.variable == "CRASH_CHAIN_KEY"
    with pytest.raises(ConfigError):
        load_settings(
            _env_file=None, environment="staging", jwt_secret="j" * 40, crash_chain_key="short"
        )
