"""Pure tax rules: what a regime looks like and what each money event owes. No I/O, no clock.

Amounts are integer minor units; rates are `Decimal` fractions (0.15 = 15%). Every tax amount is
`taxable * rate` rounded half-up to the minor unit, computed exactly (no float, no precision cap).

Conventions, chosen once and kept everywhere:
- A rule taxes only the part of its base above its `threshold` (0 = the whole base).
- A line is emitted only when its amount is > 0, so every line is one ledger posting; a zero
  amount, a losing bet or a base below the threshold yields no line and zero tax.
- A bet with payout <= stake (lost, void, refunded, cashed out at a loss) owes no winnings tax,
  whatever the rule's base: Ghana's GRA says so explicitly, and it holds for net winnings by
  definition.
- A regime has at most one rule per money event, so one line never exceeds its base and the net
  amount is never negative.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

EXCISE_ACCOUNT = "excise_tax_payable"
WITHHOLDING_ACCOUNT = "withholding_tax_payable"


class TaxKind(StrEnum):
    EXCISE = "excise"
    WITHHOLDING = "withholding"


class TaxBase(StrEnum):
    STAKE = "stake"
    NET_WINNINGS = "net_winnings"  # payout - stake
    GROSS_WINNINGS = "gross_winnings"  # the whole payout
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


_ACCOUNTS = {TaxKind.EXCISE: EXCISE_ACCOUNT, TaxKind.WITHHOLDING: WITHHOLDING_ACCOUNT}
# The money event each base is charged on; a regime may tax each event once.
_EVENT = {
    TaxBase.STAKE: "stake",
    TaxBase.NET_WINNINGS: "payout",
    TaxBase.GROSS_WINNINGS: "payout",
    TaxBase.DEPOSIT: "deposit",
    TaxBase.WITHDRAWAL: "withdrawal",
}


def _check_rate(name: str, rate: Decimal) -> None:
    if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate <= 1:
        raise ValueError(f"{name} must be a Decimal between 0 and 1, got {rate!r}")


def _check_amount(name: str, amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"{name} must be an int of minor units, got {type(amount).__name__}")
    if amount < 0:
        raise ValueError(f"{name} must be >= 0 minor units, got {amount}")


def round_half_up(amount: int, rate: Decimal) -> int:
    """`amount * rate` rounded half-up to an integer, exactly.

    Equal to `(Decimal(amount) * rate).quantize(Decimal(1), ROUND_HALF_UP)` but immune to the
    Decimal context's 28-digit precision.
    """
    _check_amount("amount", amount)
    _check_rate("rate", rate)
    numerator, denominator = rate.as_integer_ratio()
    return (2 * amount * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True, slots=True)
class TaxRule:
    kind: TaxKind
    base: TaxBase
    rate: Decimal
    threshold: int = 0  # minor units; only the part of the base above it is taxed
    account: str = ""  # the liability account credited; defaults from `kind`

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TaxKind(self.kind))
        object.__setattr__(self, "base", TaxBase(self.base))
        _check_rate("rate", self.rate)
        _check_amount("threshold", self.threshold)
        if not self.account:
            object.__setattr__(self, "account", _ACCOUNTS[self.kind])
        if self.account not in _ACCOUNTS.values():
            raise ValueError(f"unknown tax account {self.account!r}")

    def taxable(self, base_amount: int) -> int:
        return max(0, base_amount - self.threshold)


@dataclass(frozen=True, slots=True)
class TaxRegime:
    """One country's taxes over a span of dates, both ends inclusive (`effective_to` None: open)."""

    id: str
    country: str  # ISO 3166-1 alpha-2
    currency: str  # ISO 4217
    effective_from: date
    effective_to: date | None
    rules: tuple[TaxRule, ...]
    ggr_rate: Decimal  # operator's tax on gross gaming revenue (reporting only)
    description: str = ""

    def __post_init__(self) -> None:
        _check_rate("ggr_rate", self.ggr_rate)
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError(f"{self.id}: effective_to is before effective_from")
        events = [_EVENT[rule.base] for rule in self.rules]
        for event in set(events):
            if events.count(event) > 1:
                raise ValueError(f"{self.id}: more than one rule taxes the {event}")

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )

    def rule_for(self, *bases: TaxBase) -> TaxRule | None:
        return next((rule for rule in self.rules if rule.base in bases), None)


@dataclass(frozen=True, slots=True)
class TaxOverrides:
    """Operator overrides from the seed's TAX_GGR_RATE / TAX_WHT_RATE / TAX_THRESHOLD.

    They replace the rate and threshold of every withholding rule in force and the GGR rate;
    they never create a tax the regime does not levy.
    """

    ggr_rate: Decimal | None = None
    wht_rate: Decimal | None = None
    threshold: int | None = None  # minor units

    def __post_init__(self) -> None:
        for name in ("ggr_rate", "wht_rate"):
            rate = getattr(self, name)
            if rate is not None:
                _check_rate(name, rate)
        if self.threshold is not None:
            _check_amount("threshold", self.threshold)

    @classmethod
    def from_settings(
        cls,
        ggr: float | None,
        wht: float | None,
        threshold_major: int | None,
        minor_units: int,
    ) -> TaxOverrides:
        """Settings hold rates as floats and the threshold in major units; go through str so
        0.15 becomes Decimal("0.15"), not 0.1499999999999999944488848768742172978818416595458984375.
        """
        _check_amount("minor_units", minor_units)
        if threshold_major is not None:
            _check_amount("threshold_major", threshold_major)
        return cls(
            ggr_rate=None if ggr is None else Decimal(str(ggr)),
            wht_rate=None if wht is None else Decimal(str(wht)),
            threshold=None if threshold_major is None else threshold_major * 10**minor_units,
        )

    def apply(self, regime: TaxRegime) -> TaxRegime:
        rules = tuple(
            replace(
                rule,
                rate=rule.rate if self.wht_rate is None else self.wht_rate,
                threshold=rule.threshold if self.threshold is None else self.threshold,
            )
            if rule.kind is TaxKind.WITHHOLDING
            else rule
            for rule in regime.rules
        )
        ggr_rate = regime.ggr_rate if self.ggr_rate is None else self.ggr_rate
        if rules == regime.rules and ggr_rate == regime.ggr_rate:
            return regime
        changed = ", ".join(
            f"{name}={value}"
            for name, value in (
                ("ggr_rate", self.ggr_rate),
                ("wht_rate", self.wht_rate),
                ("threshold", self.threshold),
            )
            if value is not None
        )
        description = f"{regime.description} [overridden: {changed}]"
        return replace(regime, rules=rules, ggr_rate=ggr_rate, description=description)


@dataclass(frozen=True, slots=True)
class TaxLine:
    kind: TaxKind
    base: TaxBase
    rate: Decimal
    taxable: int  # the part of the base the rate applied to
    amount: int
    account: str
    regime_id: str


@dataclass(frozen=True, slots=True)
class StakeBreakdown:
    gross_stake: int
    lines: tuple[TaxLine, ...]
    tax: int
    net_stake: int  # gross_stake - excise on the stake: what is actually wagered


@dataclass(frozen=True, slots=True)
class PayoutBreakdown:
    stake: int
    gross_payout: int
    net_winnings: int  # max(0, gross_payout - stake)
    lines: tuple[TaxLine, ...]
    tax: int
    net_payout: int  # gross_payout - tax: what the player is credited


@dataclass(frozen=True, slots=True)
class DepositBreakdown:
    gross: int
    lines: tuple[TaxLine, ...]
    tax: int
    net: int  # gross - excise: what the betting wallet is credited


@dataclass(frozen=True, slots=True)
class WithdrawalBreakdown:
    gross: int
    lines: tuple[TaxLine, ...]
    tax: int
    net: int  # gross - withholding: what the player receives


def _lines(regime: TaxRegime, rule: TaxRule | None, base_amount: int) -> tuple[TaxLine, ...]:
    if rule is None:
        return ()
    taxable = rule.taxable(base_amount)
    amount = round_half_up(taxable, rule.rate)
    if amount == 0:
        return ()
    line = TaxLine(rule.kind, rule.base, rule.rate, taxable, amount, rule.account, regime.id)
    return (line,)


def _total(lines: tuple[TaxLine, ...]) -> int:
    return sum(line.amount for line in lines)


def stake_breakdown(regime: TaxRegime, stake: int) -> StakeBreakdown:
    """Tax charged when a bet is placed (Kenya before 2025-07-01: 15% excise on the stake)."""
    _check_amount("stake", stake)
    lines = _lines(regime, regime.rule_for(TaxBase.STAKE), stake)
    tax = _total(lines)
    return StakeBreakdown(gross_stake=stake, lines=lines, tax=tax, net_stake=stake - tax)


def payout_breakdown(regime: TaxRegime, *, stake: int, payout: int) -> PayoutBreakdown:
    """Tax withheld when a bet pays out. `stake` is what the player staked on the bet."""
    _check_amount("stake", stake)
    _check_amount("payout", payout)
    net_winnings = max(0, payout - stake)
    lines: tuple[TaxLine, ...] = ()
    if net_winnings > 0:  # lost, void and break-even bets owe no winnings tax
        rule = regime.rule_for(TaxBase.NET_WINNINGS, TaxBase.GROSS_WINNINGS)
        base = payout if rule is not None and rule.base is TaxBase.GROSS_WINNINGS else net_winnings
        lines = _lines(regime, rule, base)
    tax = _total(lines)
    return PayoutBreakdown(
        stake=stake,
        gross_payout=payout,
        net_winnings=net_winnings,
        lines=lines,
        tax=tax,
        net_payout=payout - tax,
    )


def deposit_breakdown(regime: TaxRegime, amount: int) -> DepositBreakdown:
    """Tax on money entering the betting wallet (Kenya from 2025-07-01: 5% excise)."""
    _check_amount("amount", amount)
    lines = _lines(regime, regime.rule_for(TaxBase.DEPOSIT), amount)
    tax = _total(lines)
    return DepositBreakdown(gross=amount, lines=lines, tax=tax, net=amount - tax)


def withdrawal_breakdown(regime: TaxRegime, amount: int) -> WithdrawalBreakdown:
    """Tax on money leaving the betting wallet (Kenya from 2025-07-01: 5% withholding)."""
    _check_amount("amount", amount)
    lines = _lines(regime, regime.rule_for(TaxBase.WITHDRAWAL), amount)
    tax = _total(lines)
    return WithdrawalBreakdown(gross=amount, lines=lines, tax=tax, net=amount - tax)


def ggr_tax(regime: TaxRegime, *, stakes: int, payouts: int) -> int:
    """The operator's tax on gross gaming revenue (stakes - payouts) for a reporting period.

    A period where payouts exceed stakes owes nothing (losses are not refunded or carried here).
    """
    _check_amount("stakes", stakes)
    _check_amount("payouts", payouts)
    return round_half_up(max(0, stakes - payouts), regime.ggr_rate)
