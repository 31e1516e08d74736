"""System bets: named covers, k/n, and the lines they expand into."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.errors import Unprocessable
from letsbet.sportsbook.bets.systems import (
    MAX_SYSTEM_LINES,
    NAMED_SYSTEMS,
    InvalidSystem,
    expand_lines,
    line_count,
    parse_system,
)

NAMED_LINE_COUNTS = {
    "trixie": (3, 4),
    "patent": (3, 7),
    "yankee": (4, 11),
    "lucky15": (4, 15),
    "canadian": (5, 26),
    "super_yankee": (5, 26),
    "lucky31": (5, 31),
    "heinz": (6, 57),
    "lucky63": (6, 63),
    "super_heinz": (7, 120),
    "goliath": (8, 247),
}


def test_every_named_system_is_covered() -> None:
    assert set(NAMED_SYSTEMS) == set(NAMED_LINE_COUNTS)


@pytest.mark.parametrize(("name", "legs", "lines"), [(n, *v) for n, v in NAMED_LINE_COUNTS.items()])
def test_named_system_line_count(name: str, legs: int, lines: int) -> None:
    sizes = parse_system(name, legs)
    assert len(expand_lines(legs, sizes)) == lines
    assert line_count(legs, sizes) == lines


def test_named_systems_cover_everything_but_lucky_ones_skip_singles() -> None:
    assert expand_lines(3, parse_system("trixie", 3)) == [(0, 1), (0, 2), (1, 2), (0, 1, 2)]
    assert expand_lines(3, parse_system("patent", 3)) == [
        (0,),
        (1,),
        (2,),
        (0, 1),
        (0, 2),
        (1, 2),
        (0, 1, 2),
    ]
    assert parse_system("canadian", 5) == parse_system("super_yankee", 5)


@pytest.mark.parametrize(
    ("n", "k"), [(n, k) for n in range(1, 9) for k in range(1, n + 1)], ids=lambda v: str(v)
)
def test_k_of_n_has_n_choose_k_lines_of_k_legs(n: int, k: int) -> None:
    sizes = parse_system(f"{k}/{n}", n)
    assert sizes == (k,)
    lines = expand_lines(n, sizes)
    assert len(lines) == math.comb(n, k)
    assert all(len(line) == k for line in lines)


@pytest.mark.parametrize(
    "spec", ["Super Yankee", "super-yankee", " SUPER_YANKEE ", "superyankee", "Canadian"]
)
def test_names_match_ignoring_case_spaces_and_hyphens(spec: str) -> None:
    assert parse_system(spec, 5) == (2, 3, 4, 5)


@pytest.mark.parametrize("spec", ["2/3", " 2 / 3 ", "2/ 3"])
def test_k_of_n_tolerates_spaces(spec: str) -> None:
    assert parse_system(spec, 3) == (2,)


@pytest.mark.parametrize(
    ("spec", "legs", "fragment"),
    [
        ("2/4", 3, "for 4 selections but the bet has 3"),
        ("0/3", 3, "between 1 and 3"),
        ("4/3", 3, "between 1 and 3"),
        ("yankee", 3, "needs exactly 4 selections"),
        ("goliath", 7, "needs exactly 8 selections"),
        ("heinz57", 6, "Unknown system"),
        ("", 3, "Unknown system"),
        ("2/3/4", 3, "Unknown system"),
        ("-1/3", 3, "Unknown system"),
        ("1.5/3", 3, "Unknown system"),
        ("\u0662/\u0663", 3, "Unknown system"),  # Arabic-Indic digits
        ("2/3", 0, "needs selections"),
    ],
)
def test_invalid_systems_are_rejected_with_a_message(spec: str, legs: int, fragment: str) -> None:
    with pytest.raises(InvalidSystem) as raised:
        parse_system(spec, legs)
    assert fragment in raised.value.message
    assert raised.value.details["system"] == spec


def test_invalid_system_is_a_422_with_a_stable_code() -> None:
    error = InvalidSystem()
    assert isinstance(error, Unprocessable)
    assert (error.status_code, error.code) == (422, "invalid_system")


def test_systems_with_too_many_lines_are_refused() -> None:
    assert math.comb(20, 10) > MAX_SYSTEM_LINES
    with pytest.raises(InvalidSystem, match="184756 lines"):
        parse_system("10/20", 20)
    assert parse_system("2/20", 20) == (2,)  # 190 lines
    assert parse_system("10/20", 20, max_lines=200_000) == (10,)
    with pytest.raises(InvalidSystem):
        parse_system("goliath", 8, max_lines=246)


@pytest.mark.parametrize(("legs", "sizes"), [(0, (1,)), (3, ()), (3, (2, 2)), (3, (0,)), (3, (4,))])
def test_expand_lines_refuses_sizes_no_spec_produces(legs: int, sizes: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        expand_lines(legs, sizes)


@st.composite
def systems(draw: st.DrawFn) -> tuple[int, tuple[int, ...]]:
    legs = draw(st.integers(1, 10))
    sizes = draw(st.sets(st.integers(1, legs), min_size=1))
    return legs, tuple(draw(st.permutations(sorted(sizes))))


@given(systems())
def test_lines_are_unique_combinations_of_the_legs(system: tuple[int, tuple[int, ...]]) -> None:
    legs, sizes = system
    lines = expand_lines(legs, sizes)
    assert len(lines) == sum(math.comb(legs, k) for k in sizes) == line_count(legs, sizes)
    assert len(set(lines)) == len(lines)
    for line in lines:
        assert len(line) in sizes
        assert list(line) == sorted(set(line))  # ascending, no leg twice
        assert set(line) <= set(range(legs))
    assert lines == sorted(lines, key=lambda line: (len(line), line))  # deterministic order


@given(systems())
def test_lines_are_every_combination_of_each_size(system: tuple[int, tuple[int, ...]]) -> None:
    legs, sizes = system
    lines = expand_lines(legs, sizes)
    for k in sizes:
        assert sum(1 for line in lines if len(line) == k) == math.comb(legs, k)
