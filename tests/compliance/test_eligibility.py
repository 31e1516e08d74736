"""Eligibility, pure: the rules on their inputs, whichever query read them."""

from __future__ import annotations

import pytest

from letsbet.compliance.eligibility import Action, Inputs, NotEligible, decide


@pytest.mark.parametrize("action", list(Action))
def test_only_active_accounts_in_allowed_countries_may_act(action: Action) -> None:
    decide(Inputs("active"), country="KE", action=action, allowed_countries=["KE"])
    for status in ("suspended", "closed", None):
        with pytest.raises(NotEligible) as refused:
            decide(Inputs(status), country="KE", action=action, allowed_countries=["KE"])
        assert refused.value.details["reason"] == "account_inactive"
    with pytest.raises(NotEligible) as refused:
        decide(Inputs("active"), country="GH", action=action, allowed_countries=["KE"])
    assert refused.value.details["reason"] == "country_not_allowed"


def test_inputs_come_from_a_row_with_the_fragments_columns() -> None:
    assert Inputs.of({"account_status": "active", "other": 1}) == Inputs("active")
