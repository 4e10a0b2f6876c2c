"""Quantities as exact amounts, and anything that is not one refused with a ValueError whatever its type (reviews
carry untrusted JSON)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jupyternetes import quantity


@pytest.mark.parametrize(("text", "amount"), [
    ("500m", Decimal("0.5")), ("2", Decimal(2)), ("1.5Gi", Decimal(1.5 * 2**30)), ("1e3", Decimal(1000)),
    (4, Decimal(4)), (0.25, Decimal("0.25")),
])
def test_quantities_are_exact_amounts(text: str | int | float, amount: Decimal) -> None:
    assert quantity.parse(text) == amount


@pytest.mark.parametrize("value", [None, {}, [], True, "lots", "1Zi", "", "1.2.3"],
                         ids=["null", "object", "list", "bool", "word", "suffix", "empty", "dots"])
def test_anything_else_is_a_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="quantity|suffix"):
        quantity.parse(value)


def test_equal_compares_amounts_and_never_raises() -> None:
    assert quantity.equal("1", "1000m") and quantity.equal("1Gi", 1073741824)
    assert not quantity.equal(None, "1Gi") and not quantity.equal({}, "1Gi")
    assert quantity.equal(None, None)  # not quantities: compared as they are
