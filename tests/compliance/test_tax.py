"""Pure tax rules: regimes by country and date, breakdowns, rounding, overrides. No I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, localcontext
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.compliance.tax import (
    EXCISE_ACCOUNT,
    REGIMES,
    REGIMES_BY_ID,
    WITHHOLDING_ACCOUNT,
    DepositBreakdown,
    StakeBreakdown,
    TaxBase,
    TaxKind,
    TaxLine,
    TaxOverrides,
    TaxRegime,
    TaxRule,
    UnknownTaxRegime,
    WithdrawalBreakdown,
    deposit_breakdown,
    ggr_tax,
    legal_date,
    payout_breakdown,
    regime_by_id,
    regime_for,
    regimes_in_force,
    round_half_up,
    stake_breakdown,
    withdrawal_breakdown,
)
from letsbet.compliance.tax.regimes import LEGAL_UTC_OFFSETS
from letsbet.tenants import TENANTS

KE_2024 = regime_for("KE", date(2025, 6, 30))
KE_2025 = regime_for("KE", date(2025, 7, 1))
NG = regime_for("NG", date(2026, 1, 1))
GH_ACT = regime_for("GH", date(2024, 6, 1))
GH_REPEALED = regime_for("GH", date(2025, 3, 26))


def d(text: str) -> date:
    return date.fromisoformat(text)


# -- the table as data ---------------------------------------------------------------------------


def test_every_tenant_regime_id_is_defined_for_its_country() -> None:
    for tenant in TENANTS.values():
        assert tenant.tax_regime_ids
        for regime_id in tenant.tax_regime_ids:
            regime = regime_by_id(regime_id)
            assert (regime.country, regime.currency) == (tenant.code, tenant.currency)
    with pytest.raises(UnknownTaxRegime):
        regime_by_id("xx-none")


def _edges(country: str) -> list[date]:
    """Every first and last day of every row, and the days either side of them."""
    days: set[date] = set()
    for row in REGIMES[country]:
        for edge in (row.effective_from, row.effective_to):
            if edge is not None and date(1900, 1, 1) < edge:
                days |= {edge - timedelta(days=1), edge, edge + timedelta(days=1)}
    return sorted(days | {date(2000, 1, 1), date(2030, 1, 1)})


@pytest.mark.parametrize("country", sorted(REGIMES))
def test_at_most_one_player_regime_and_one_ggr_rate_in_force_on_any_day(country: str) -> None:
    for day in _edges(country):
        rows = regimes_in_force(country, day)
        assert sum(1 for row in rows if row.rules) <= 1, day
        assert sum(1 for row in rows if row.ggr_rate) <= 1, day


@pytest.mark.parametrize("country", sorted(REGIMES))
def test_legal_offsets_match_the_tenant_time_zone(country: str) -> None:
    try:
        zone = ZoneInfo(TENANTS[country].timezone)
    except ZoneInfoNotFoundError:
        pytest.skip("no time zone database on this machine")
    for month in (1, 4, 7, 10):
        assert datetime(2025, month, 1, tzinfo=zone).utcoffset() == LEGAL_UTC_OFFSETS[country]


@pytest.mark.parametrize(
    ("country", "day", "regime_id", "bases", "ggr"),
    [
        ("KE", "2020-01-01", "ke-seed-2024", {TaxBase.STAKE, TaxBase.NET_WINNINGS}, "0.15"),
        ("KE", "2025-06-30", "ke-seed-2024", {TaxBase.STAKE, TaxBase.NET_WINNINGS}, "0.15"),
        ("KE", "2025-07-01", "ke-2025-finance-act", {TaxBase.DEPOSIT, TaxBase.WITHDRAWAL}, "0.15"),
        ("KE", "2030-01-01", "ke-2025-finance-act", {TaxBase.DEPOSIT, TaxBase.WITHDRAWAL}, "0.15"),
        ("NG", "2021-01-01", "ng-lagos-wht", {TaxBase.NET_WINNINGS}, "0"),
        ("NG", "2026-01-01", "ng-lagos-wht", {TaxBase.NET_WINNINGS}, "0"),
        ("GH", "2023-08-14", "gh-operator-ggr", set(), "0.20"),
        ("GH", "2023-08-15", "gh-act-1094-wht", {TaxBase.NET_WINNINGS}, "0.20"),
        ("GH", "2025-03-25", "gh-act-1094-wht", {TaxBase.NET_WINNINGS}, "0.20"),
        ("GH", "2025-03-26", "gh-operator-ggr", set(), "0.20"),
    ],
)
def test_regime_for_picks_by_date(
    country: str, day: str, regime_id: str, bases: set[TaxBase], ggr: str
) -> None:
    regime = regime_for(country, d(day))
    assert regime.id == regime_id
    assert regime.country == country
    assert regime.currency == TENANTS[country].currency
    assert {rule.base for rule in regime.rules} == bases
    assert regime.ggr_rate == Decimal(ggr)


def test_rule_rates_match_the_brief() -> None:
    def rates(regime: TaxRegime) -> dict[tuple[str, str], Decimal]:
        return {(rule.kind, rule.base): rule.rate for rule in regime.rules}

    assert rates(KE_2024) == {
        ("excise", "stake"): Decimal("0.15"),
        ("withholding", "net_winnings"): Decimal("0.20"),
    }
    assert rates(KE_2025) == {
        ("excise", "deposit"): Decimal("0.05"),
        ("withholding", "withdrawal"): Decimal("0.05"),
    }
    assert rates(NG) == {("withholding", "net_winnings"): Decimal("0.05")}
    assert rates(GH_ACT) == {("withholding", "net_winnings"): Decimal("0.10")}
    assert rates(GH_REPEALED) == {}
    accounts = {rule.kind: rule.account for r in (KE_2024, KE_2025) for rule in r.rules}
    assert accounts == {TaxKind.EXCISE: EXCISE_ACCOUNT, TaxKind.WITHHOLDING: WITHHOLDING_ACCOUNT}


def test_no_regime_before_the_lagos_law_or_for_unknown_countries() -> None:
    with pytest.raises(UnknownTaxRegime, match="'NG' on 2020-12-31"):
        regime_for("NG", d("2020-12-31"))
    with pytest.raises(UnknownTaxRegime, match="'UG'") as caught:
        regime_for("UG", d("2025-01-01"))
    assert isinstance(caught.value, ValueError)


def test_country_codes_are_case_insensitive() -> None:
    assert regime_for("ke", d("2025-07-01")) == KE_2025


@pytest.mark.parametrize(
    ("country", "at", "regime_id"),
    [
        # Nairobi is UTC+3: its 2025-07-01 starts at 2025-06-30T21:00Z
        ("KE", datetime(2025, 6, 30, 20, 59, 59, tzinfo=UTC), "ke-seed-2024"),
        ("KE", datetime(2025, 6, 30, 21, 0, tzinfo=UTC), "ke-2025-finance-act"),
        (
            "KE",
            datetime(2025, 7, 1, 0, 0, tzinfo=timezone(timedelta(hours=3))),
            "ke-2025-finance-act",
        ),
        # Accra is UTC+0
        ("GH", datetime(2025, 3, 25, 23, 59, 59, tzinfo=UTC), "gh-act-1094-wht"),
        ("GH", datetime(2025, 3, 26, 0, 0, tzinfo=UTC), "gh-operator-ggr"),
        # Lagos is UTC+1
        ("NG", datetime(2020, 12, 31, 23, 0, tzinfo=UTC), "ng-lagos-wht"),
    ],
)
def test_datetimes_fall_on_the_legal_local_day(country: str, at: datetime, regime_id: str) -> None:
    assert regime_for(country, at).id == regime_id


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        legal_date("KE", datetime(2025, 7, 1, 12, 0))


def _regime_or_none(country: str, day: date) -> TaxRegime | None:
    try:
        return regime_for(country, day)
    except UnknownTaxRegime:
        return None


@pytest.mark.parametrize("country", sorted(REGIMES))
def test_a_regime_covers_exactly_its_effective_dates(country: str) -> None:
    for day in _edges(country):
        regime = _regime_or_none(country, day)
        if regime is None:
            continue
        assert regime.in_force(day)
        assert regime_for(country, regime.effective_from) == regime
        assert regime_for(country, regime.effective_to or date(9999, 12, 31)) == regime
        if regime.effective_to is not None:
            assert _regime_or_none(country, regime.effective_to + timedelta(days=1)) != regime
        if regime.effective_from > date.min:
            assert _regime_or_none(country, regime.effective_from - timedelta(days=1)) != regime


# -- examples ------------------------------------------------------------------------------------


def test_ke_2024_excise_on_the_stake() -> None:
    result = stake_breakdown(KE_2024, 100_00)
    assert (result.gross_stake, result.tax, result.net_stake) == (100_00, 15_00, 85_00)
    assert result.lines == (
        TaxLine(
            kind=TaxKind.EXCISE,
            base=TaxBase.STAKE,
            rate=Decimal("0.15"),
            taxable=100_00,
            amount=15_00,
            account=EXCISE_ACCOUNT,
            regime_id="ke-seed-2024",
        ),
    )


def test_ke_2024_withholding_on_net_winnings() -> None:
    result = payout_breakdown(KE_2024, stake=100_00, payout=1_000_00)
    assert result.net_winnings == 900_00
    assert (result.tax, result.net_payout) == (180_00, 820_00)
    (line,) = result.lines
    assert (line.kind, line.base, line.taxable, line.amount, line.account) == (
        "withholding",
        "net_winnings",
        900_00,
        180_00,
        WITHHOLDING_ACCOUNT,
    )


def test_ke_2025_taxes_deposits_and_withdrawals_not_bets() -> None:
    deposit = deposit_breakdown(KE_2025, 1_000_00)
    assert (deposit.tax, deposit.net) == (50_00, 950_00)
    assert deposit.lines[0].account == EXCISE_ACCOUNT
    assert deposit.lines[0].regime_id == "ke-2025-finance-act"
    withdrawal = withdrawal_breakdown(KE_2025, 1_000_00)
    assert (withdrawal.tax, withdrawal.net) == (50_00, 950_00)
    assert withdrawal.lines[0].account == WITHHOLDING_ACCOUNT
    assert stake_breakdown(KE_2025, 100_00).tax == 0
    assert payout_breakdown(KE_2025, stake=100_00, payout=1_000_00).tax == 0
    assert deposit_breakdown(KE_2024, 1_000_00).tax == 0
    assert withdrawal_breakdown(KE_2024, 1_000_00).tax == 0


def test_ng_withholding_on_net_winnings() -> None:
    result = payout_breakdown(NG, stake=100_00, payout=500_00)
    assert (result.net_winnings, result.tax, result.net_payout) == (400_00, 20_00, 480_00)
    assert result.lines[0].regime_id == "ng-lagos-wht"
    assert stake_breakdown(NG, 100_00).tax == 0


def test_gh_withholding_until_the_repeal_and_none_after() -> None:
    before = payout_breakdown(regime_for("GH", d("2025-03-25")), stake=100_00, payout=500_00)
    assert (before.tax, before.net_payout) == (40_00, 460_00)
    after = payout_breakdown(regime_for("GH", d("2025-03-26")), stake=100_00, payout=500_00)
    assert (after.tax, after.net_payout, after.lines) == (0, 500_00, ())


_Taxed = StakeBreakdown | DepositBreakdown | WithdrawalBreakdown


@pytest.mark.parametrize(
    ("regime", "breakdown", "amount", "tax"),
    [
        (KE_2025, deposit_breakdown, 10, 1),  # 5% of 10 = 0.5 -> 1
        (KE_2025, deposit_breakdown, 9, 0),  # 0.45 -> 0
        (KE_2025, deposit_breakdown, 30, 2),  # 1.5 -> 2
        (KE_2025, withdrawal_breakdown, 10, 1),
        (KE_2025, withdrawal_breakdown, 49, 2),  # 2.45 -> 2
        (KE_2024, stake_breakdown, 1, 0),  # 0.15 -> 0
        (KE_2024, stake_breakdown, 4, 1),  # 0.6 -> 1
        (KE_2024, stake_breakdown, 10, 2),  # 1.5 -> 2
        (KE_2024, stake_breakdown, 99, 15),  # 14.85 -> 15
    ],
)
def test_rounding_is_half_up_to_the_minor_unit(
    regime: TaxRegime, breakdown: Callable[[TaxRegime, int], _Taxed], amount: int, tax: int
) -> None:
    assert breakdown(regime, amount).tax == tax


def test_winnings_rounding_half_up() -> None:
    # NG 5%: net winnings 10 -> 0.5 -> 1; 9 -> 0.45 -> 0
    assert payout_breakdown(NG, stake=100, payout=110).tax == 1
    assert payout_breakdown(NG, stake=100, payout=109).tax == 0


@pytest.mark.parametrize("payout", [0, 50_00, 99_99, 100_00])
@pytest.mark.parametrize("regime", [KE_2024, NG, GH_ACT])
def test_lost_void_and_break_even_bets_owe_no_winnings_tax(regime: TaxRegime, payout: int) -> None:
    result = payout_breakdown(regime, stake=100_00, payout=payout)
    assert (result.net_winnings, result.tax, result.lines, result.net_payout) == (
        0,
        0,
        (),
        payout,
    )


def test_a_gross_winnings_rule_taxes_the_whole_payout_but_never_a_loss() -> None:
    gross = TaxRegime(
        id="test-gross",
        country="GH",
        currency="GHS",
        effective_from=date.min,
        effective_to=None,
        rules=(TaxRule(TaxKind.WITHHOLDING, TaxBase.GROSS_WINNINGS, Decimal("0.10")),),
        ggr_rate=Decimal(0),
    )
    won = payout_breakdown(gross, stake=100_00, payout=500_00)
    assert (won.tax, won.lines[0].taxable, won.net_payout) == (50_00, 500_00, 450_00)
    assert payout_breakdown(gross, stake=100_00, payout=100_00).tax == 0


@pytest.mark.parametrize("regime", [KE_2024, KE_2025, NG, GH_ACT, GH_REPEALED])
def test_zero_amounts_owe_nothing_and_have_no_lines(regime: TaxRegime) -> None:
    for result in (
        stake_breakdown(regime, 0),
        payout_breakdown(regime, stake=0, payout=0),
        deposit_breakdown(regime, 0),
        withdrawal_breakdown(regime, 0),
    ):
        assert (result.tax, result.lines) == (0, ())
    assert ggr_tax(regime, stakes=0, payouts=0) == 0


def test_a_tax_rounding_to_zero_has_no_line() -> None:
    assert deposit_breakdown(KE_2025, 9).lines == ()


# -- thresholds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("net_winnings", "taxable", "tax"),
    [(0, 0, 0), (400_00, 0, 0), (500_00, 0, 0), (500_01, 1, 0), (600_00, 100_00, 20_00)],
)
def test_only_winnings_above_the_threshold_are_taxed(
    net_winnings: int, taxable: int, tax: int
) -> None:
    regime = regime_for("KE", d("2025-01-01"), overrides=TaxOverrides(threshold=500_00))
    result = payout_breakdown(regime, stake=100_00, payout=100_00 + net_winnings)
    assert result.tax == tax
    assert sum(line.taxable for line in result.lines) == (taxable if tax else 0)
    assert result.net_payout + result.tax == result.gross_payout


def test_a_rule_threshold_applies_to_its_base() -> None:
    rule = TaxRule(TaxKind.WITHHOLDING, TaxBase.WITHDRAWAL, Decimal("0.05"), threshold=1_000_00)
    assert rule.taxable(999_99) == 0
    assert rule.taxable(1_000_00) == 0
    assert rule.taxable(1_500_00) == 500_00


# -- overrides -----------------------------------------------------------------------------------


def test_overrides_from_settings_are_exact_decimals_and_minor_units() -> None:
    overrides = TaxOverrides.from_settings(0.15, 0.2, 500, 2)
    assert overrides == TaxOverrides(
        ggr_rate=Decimal("0.15"), wht_rate=Decimal("0.2"), threshold=500_00
    )
    assert TaxOverrides.from_settings(0.1, None, None, 2).ggr_rate == Decimal("0.1")
    assert TaxOverrides.from_settings(None, None, None, 2) == TaxOverrides()
    assert TaxOverrides.from_settings(None, None, 7, 0).threshold == 7


def test_overrides_replace_withholding_and_ggr_but_not_excise() -> None:
    overrides = TaxOverrides(ggr_rate=Decimal("0.25"), wht_rate=Decimal("0.10"))
    regime = regime_for("KE", d("2025-07-01"), overrides=overrides)
    assert regime.id == "ke-2025-finance-act"
    assert "overridden" in regime.description
    assert withdrawal_breakdown(regime, 1_000_00).tax == 100_00
    assert deposit_breakdown(regime, 1_000_00).tax == 50_00
    assert ggr_tax(regime, stakes=1_000_00, payouts=0) == 250_00
    seed = regime_for(
        "KE", d("2025-01-01"), overrides=TaxOverrides.from_settings(0.15, 0.2, 500, 2)
    )
    assert payout_breakdown(seed, stake=100_00, payout=1_000_00).tax == 80_00  # 20% of 400_00


def test_overrides_never_create_a_tax() -> None:
    overrides = TaxOverrides(wht_rate=Decimal("0.10"), threshold=1_00)
    regime = regime_for("GH", d("2025-03-26"), overrides=overrides)
    assert regime.rules == ()
    assert payout_breakdown(regime, stake=1_00, payout=1_000_00).tax == 0


def test_empty_overrides_change_nothing() -> None:
    assert regime_for("NG", d("2026-01-01"), overrides=TaxOverrides()) == NG


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ggr_rate": Decimal("1.5")},
        {"wht_rate": Decimal(-1)},
        {"wht_rate": Decimal("NaN")},
        {"threshold": -1},
    ],
)
def test_bad_overrides_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TaxOverrides(**kwargs)  # type: ignore[arg-type]


# -- GGR -----------------------------------------------------------------------------------------


def test_ggr_tax_for_operators() -> None:
    assert ggr_tax(KE_2025, stakes=1_000_000_00, payouts=800_000_00) == 30_000_00
    assert ggr_tax(GH_REPEALED, stakes=1_000_000_00, payouts=800_000_00) == 40_000_00
    assert ggr_tax(NG, stakes=1_000_000_00, payouts=800_000_00) == 0
    assert ggr_tax(KE_2025, stakes=800_000_00, payouts=1_000_000_00) == 0  # a losing period


# -- validation ----------------------------------------------------------------------------------


def test_negative_amounts_are_programmer_errors() -> None:
    with pytest.raises(ValueError, match="stake must be >= 0"):
        stake_breakdown(KE_2024, -1)
    with pytest.raises(ValueError, match="payout must be >= 0"):
        payout_breakdown(KE_2024, stake=1, payout=-1)
    with pytest.raises(ValueError, match="amount must be >= 0"):
        deposit_breakdown(KE_2025, -1)
    with pytest.raises(ValueError, match="amount must be >= 0"):
        withdrawal_breakdown(KE_2025, -1)
    with pytest.raises(ValueError, match="payouts must be >= 0"):
        ggr_tax(KE_2025, stakes=0, payouts=-1)


@pytest.mark.parametrize("amount", [1.5, Decimal(1), True, "100"])
def test_money_must_be_int_minor_units(amount: object) -> None:
    with pytest.raises(TypeError, match="int of minor units"):
        stake_breakdown(KE_2024, amount)  # type: ignore[arg-type]


def test_rules_and_regimes_validate_their_data() -> None:
    with pytest.raises(ValueError, match="Decimal between 0 and 1"):
        TaxRule(TaxKind.EXCISE, TaxBase.STAKE, 0.15)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Decimal between 0 and 1"):
        TaxRule(TaxKind.EXCISE, TaxBase.STAKE, Decimal("1.01"))
    with pytest.raises(ValueError, match="unknown tax account"):
        TaxRule(TaxKind.EXCISE, TaxBase.STAKE, Decimal("0.1"), account="cash")
    with pytest.raises(ValueError, match="more than one rule taxes the payout"):
        TaxRegime(
            id="double",
            country="KE",
            currency="KES",
            effective_from=date.min,
            effective_to=None,
            rules=(
                TaxRule(TaxKind.WITHHOLDING, TaxBase.NET_WINNINGS, Decimal("0.1")),
                TaxRule(TaxKind.WITHHOLDING, TaxBase.GROSS_WINNINGS, Decimal("0.1")),
            ),
            ggr_rate=Decimal(0),
        )
    with pytest.raises(ValueError, match="effective_to is before"):
        TaxRegime("x", "KE", "KES", d("2025-01-02"), d("2025-01-01"), (), Decimal(0))


# -- properties ----------------------------------------------------------------------------------

AMOUNTS = st.integers(min_value=0, max_value=10**15)
RATES = st.decimals(min_value=0, max_value=1, places=4)
_BOUNDARY_DAYS = sorted({day for country in REGIMES for day in _edges(country)})
DAYS = st.one_of(
    st.sampled_from(_BOUNDARY_DAYS), st.dates(min_value=d("2021-01-01"), max_value=d("2035-12-31"))
).filter(lambda day: day >= d("2021-01-01"))
OVERRIDES = st.one_of(
    st.none(),
    st.builds(
        TaxOverrides,
        ggr_rate=st.one_of(st.none(), RATES),
        wht_rate=st.one_of(st.none(), RATES),
        threshold=st.one_of(st.none(), st.integers(min_value=0, max_value=10**7)),
    ),
)
REGIME = st.builds(regime_for, st.sampled_from(sorted(REGIMES)), DAYS, overrides=OVERRIDES)


def _check_lines(lines: tuple[TaxLine, ...], base: int, regime: TaxRegime, tax: int) -> None:
    assert tax == sum(line.amount for line in lines)
    for line in lines:
        assert 0 < line.amount <= line.taxable <= base
        assert line.regime_id == regime.id


@given(REGIME, AMOUNTS, AMOUNTS)
def test_stake_breakdown_properties(regime: TaxRegime, a: int, b: int) -> None:
    result = stake_breakdown(regime, a)
    assert 0 <= result.tax <= result.gross_stake
    assert result.net_stake >= 0
    assert result.net_stake + result.tax == result.gross_stake == a
    _check_lines(result.lines, a, regime, result.tax)
    small, large = sorted((a, b))
    assert stake_breakdown(regime, small).tax <= stake_breakdown(regime, large).tax


@given(REGIME, AMOUNTS, AMOUNTS, AMOUNTS)
def test_payout_breakdown_properties(regime: TaxRegime, stake: int, p: int, q: int) -> None:
    result = payout_breakdown(regime, stake=stake, payout=p)
    assert result.net_winnings == max(0, p - stake)
    assert 0 <= result.tax <= result.net_winnings  # every regime in the table taxes net winnings
    assert result.net_payout >= 0
    assert result.net_payout + result.tax == result.gross_payout == p
    _check_lines(result.lines, result.net_winnings, regime, result.tax)
    if p <= stake:
        assert result.tax == 0
    small, large = sorted((p, q))
    assert (
        payout_breakdown(regime, stake=stake, payout=small).tax
        <= payout_breakdown(regime, stake=stake, payout=large).tax
    )
    low, high = sorted((stake, q))  # a larger stake never raises the winnings tax
    assert (
        payout_breakdown(regime, stake=high, payout=p).tax
        <= payout_breakdown(regime, stake=low, payout=p).tax
    )


@given(REGIME, AMOUNTS, AMOUNTS)
def test_deposit_breakdown_properties(regime: TaxRegime, a: int, b: int) -> None:
    result = deposit_breakdown(regime, a)
    assert 0 <= result.tax <= result.gross
    assert result.net >= 0
    assert result.net + result.tax == result.gross == a
    _check_lines(result.lines, a, regime, result.tax)
    small, large = sorted((a, b))
    assert deposit_breakdown(regime, small).tax <= deposit_breakdown(regime, large).tax


@given(REGIME, AMOUNTS, AMOUNTS)
def test_withdrawal_breakdown_properties(regime: TaxRegime, a: int, b: int) -> None:
    result = withdrawal_breakdown(regime, a)
    assert 0 <= result.tax <= result.gross
    assert result.net >= 0
    assert result.net + result.tax == result.gross == a
    _check_lines(result.lines, a, regime, result.tax)
    small, large = sorted((a, b))
    assert withdrawal_breakdown(regime, small).tax <= withdrawal_breakdown(regime, large).tax


@given(REGIME, AMOUNTS, AMOUNTS, AMOUNTS)
def test_ggr_tax_properties(regime: TaxRegime, stakes: int, payouts: int, more: int) -> None:
    tax = ggr_tax(regime, stakes=stakes, payouts=payouts)
    assert 0 <= tax <= max(0, stakes - payouts)
    assert ggr_tax(regime, stakes=stakes + more, payouts=payouts) >= tax
    assert ggr_tax(regime, stakes=stakes, payouts=payouts + more) <= tax


@given(st.integers(min_value=0, max_value=10**40), RATES)
def test_round_half_up_matches_decimal_quantize(amount: int, rate: Decimal) -> None:
    with localcontext() as context:
        context.prec = 100
        expected = (Decimal(amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert round_half_up(amount, rate) == int(expected)


@given(
    st.sampled_from(sorted(REGIMES)),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_aware_datetimes_use_the_local_day(country: str, at: datetime) -> None:
    assert legal_date(country, at) == (at + LEGAL_UTC_OFFSETS[country]).date()


def test_regimes_by_id_holds_every_row() -> None:
    assert set(REGIMES_BY_ID) == {
        "ke-seed-2024",
        "ke-2025-finance-act",
        "ke-operator-ggr",
        "ng-lagos-wht",
        "gh-act-1094-wht",
        "gh-operator-ggr",
    }
