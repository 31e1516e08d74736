"""Provably fair: the chain, its reverse consumption, crash points against hand-computed values
and published bustabit results, sealing of checkpoints. Pure, no servers."""

from __future__ import annotations

import hashlib
import hmac
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.crash import fairness
from letsbet.crash.fairness import (
    CrashPoints,
    checkpoint_for,
    crash_point,
    format_multiplier,
    generate_chain,
    links_down,
    point_from_bits,
    previous_link,
    verify_chain,
    walk,
)

SEED = bytes(range(32))
SEED_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
SALT = "letsbet-test-salt"


def spec_crash_point(game_hash: str, salt: str, edge: float = 1.0) -> str:
    """The formula exactly as bustabit's verifier writes it (hex slicing, Math.floor, /100)."""
    mac = hmac.new(salt.encode(), bytes.fromhex(game_hash), hashlib.sha256).hexdigest()
    r = int(mac[: 52 // 4], 16)
    x = r / 2**52
    x = (100 - edge) / (1 - x)
    return f"{max(1, math.floor(x) / 100):.2f}"


# -- the chain ------------------------------------------------------------------------------------
def test_previous_link_hashes_the_lowercase_hex_string() -> None:
    assert previous_link(SEED_HEX) == (
        "6c86c6aac5fb24bcf5d9939cb7d7d5645ce39418f449e03b262dd4fa14b4b92b"
    )
    assert previous_link(SEED_HEX) == hashlib.sha256(SEED_HEX.encode("ascii")).hexdigest()


def test_chain_is_consumed_in_reverse() -> None:
    chain = generate_chain(SEED, 10, every=3)
    # h_10 is the seed; h_0 (ten hashes down) is the published commitment.
    assert chain.terminating_hash == walk(SEED_HEX, 10)
    games = {n: walk(SEED_HEX, 10 - n) for n in range(1, 11)}
    assert previous_link(games[1]) == chain.terminating_hash  # game 1 hashes to the commitment
    for n in range(2, 11):
        assert previous_link(games[n]) == games[n - 1]  # each game reveals the one before
    assert games[10] == SEED_HEX  # the last game plays the seed itself
    assert chain.checkpoints == {10: SEED_HEX, 9: games[9], 6: games[6], 3: games[3]}


@pytest.mark.parametrize(("length", "every"), [(1, 1), (7, 3), (9, 3), (25, 10), (100, 7)])
def test_every_link_rebuilds_from_its_checkpoint(length: int, every: int) -> None:
    chain = generate_chain(SEED, length, every=every)
    for n in range(1, length + 1):
        top = checkpoint_for(n, length=length, every=every)
        assert top >= n and top - n < every
        segment = links_down(chain.checkpoints[top], top, n)
        assert segment[-1] == walk(SEED_HEX, length - n)
    with pytest.raises(ValueError, match="outside"):
        checkpoint_for(length + 1, length=length, every=every)


def test_verify_chain_counts_games_to_the_commitment() -> None:
    chain = generate_chain(SEED, 50, every=10)
    for n in (1, 2, 17, 50):
        assert verify_chain(walk(SEED_HEX, 50 - n), chain.terminating_hash, max_games=50) == n
    assert verify_chain(walk(SEED_HEX, 10), chain.terminating_hash, max_games=39) is None
    assert verify_chain("ab" * 32, chain.terminating_hash, max_games=100) is None
    upper = walk(SEED_HEX, 3).upper()  # hashes are compared in canonical lowercase
    assert verify_chain(upper, chain.terminating_hash, max_games=50) == 47
    with pytest.raises(fairness.InvalidHash):
        verify_chain("xyz", chain.terminating_hash, max_games=5)


def test_generate_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="32 random bytes"):
        generate_chain(b"short", 10)
    with pytest.raises(ValueError, match="positive"):
        generate_chain(SEED, 0)


# -- crash points -------------------------------------------------------------------------------
def test_crash_point_hand_computed() -> None:
    # HMAC-SHA256(key="letsbet-test-salt", message=bytes 00..1f) starts f5bcc6ab6569e:
    # r = 0xf5bcc6ab6569e = 4323058172450462, X = r / 2^52 = 0.9599117439696907,
    # 99 / (1 - X) = 2469.5511804042967 -> floor 2469 -> 24.69; with edge 5: 95 / (1 - X) -> 23.69
    assert point_from_bits(0xF5BCC6AB6569E) == 2469
    assert crash_point(SEED_HEX, SALT) == 2469
    assert crash_point(SEED_HEX, SALT, edge=5) == 2369
    # Its predecessor: HMAC starts ba156f9465cc4, r = 3273619665214660,
    # X = 0.7268895852374024, 99 / (1 - X) = 362.49075336821625 -> 3.62 (edge 5: 3.47)
    game = previous_link(SEED_HEX)
    assert point_from_bits(3273619665214660) == 362
    assert (crash_point(game, SALT), crash_point(game, SALT, 5)) == (362, 347)


@pytest.mark.parametrize(
    ("r", "edge", "expected"),
    [
        (0, 1.0, 100),  # X = 0: 99 / 1 = 99 -> floor 99 -> at least 1.00 (an instant crash)
        (2**52 // 100 - 1, 1.0, 100),  # X just below 1%: 99 / 0.99.. < 100 -> 1.00
        (2**51, 1.0, 198),  # X = 0.5: 99 / 0.5 = 198 -> 1.98
        (2**51, 5.0, 190),  # 95 / 0.5
        (2**51, 0.0, 200),  # no edge: 100 / 0.5
        (3 * 2**50, 1.0, 396),  # X = 0.75: 99 / 0.25
        (2**52 - 1, 1.0, 99 * 2**52),  # the largest: 99 / 2^-52
    ],
)
def test_formula_boundaries(r: int, edge: float, expected: int) -> None:
    assert point_from_bits(r, edge) == expected


# bustabit's published results under the salt of its current seeding event (bitcoin block
# hash, bitcointalk topic 5560454): public verifiers show these crash points for these hashes.
BUSTABIT_SALT = "00000000000000000001e08b7fd44f95e3e950ac65650a8031a6d5e1750e34be"
BUSTABIT_GAMES = [
    ("94aa062026624e59a0ace092568d5f46e21b9bf1d5173609db8645dd62bdfc44", "10.91"),
    ("94e66d98029c61ecd27c4fb6b381d401c823cf3dfbdac9246756d5b655e125aa", "4.26"),
    ("8d3b9726ca7bc5e3637bf2079e09eaf2a9d67df4e6f50ff23a7b593bd802cca6", "1.83"),
]


@pytest.mark.parametrize(("game_hash", "expected"), BUSTABIT_GAMES)
def test_bustabit_published_results(game_hash: str, expected: str) -> None:
    assert format_multiplier(crash_point(game_hash, BUSTABIT_SALT)) == expected


@given(
    st.binary(min_size=32, max_size=32),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
    st.sampled_from([0.0, 0.5, 1.0, 2.5, 5.0, 10.0]),
)
def test_fast_path_equals_the_formula_as_written(raw: bytes, salt: str, edge: float) -> None:
    game_hash = raw.hex()
    point = CrashPoints(salt, edge).of(game_hash)
    assert point >= 100
    assert format_multiplier(point) == spec_crash_point(game_hash, salt, edge)


@pytest.mark.parametrize("salt", ["k" * 64, "k" * 65, "k" * 128, BUSTABIT_SALT])
def test_salts_longer_than_a_block_are_hashed_first(salt: str) -> None:
    for game_hash in (SEED_HEX, *(h for h, _ in BUSTABIT_GAMES)):
        assert format_multiplier(crash_point(game_hash, salt)) == spec_crash_point(game_hash, salt)


def test_edge_is_a_percentage_below_100() -> None:
    for bad in (-1.0, 100.0, float("nan")):
        with pytest.raises(ValueError, match="percentage"):
            CrashPoints("salt", bad)


def test_format_multiplier() -> None:
    assert [format_multiplier(v) for v in (100, 126, 1000, 123456)] == [
        "1.00",
        "1.26",
        "10.00",
        "1234.56",
    ]


# -- sealing ---------------------------------------------------------------------------------------
def test_checkpoints_are_sealed_under_the_key() -> None:
    key = fairness.derive_key("a-secret")
    terminating = walk(SEED_HEX, 10)
    sealed = fairness.seal(key, terminating, 10, SEED_HEX)
    assert len(sealed) == 32 and sealed != bytes.fromhex(SEED_HEX)
    assert fairness.unseal(key, terminating, 10, sealed) == SEED_HEX
    # Another key, link or chain opens it to something else.
    other = fairness.derive_key("another")
    assert fairness.unseal(other, terminating, 10, sealed) != SEED_HEX
    assert fairness.unseal(key, terminating, 9, sealed) != SEED_HEX
    assert fairness.key_check(key, terminating) != fairness.key_check(other, terminating)
