"""Kubernetes resource quantities (`500m`, `2Gi`, `1e3`) as exact decimals, for comparing and bounding them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

_BINARY: Final = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: Final = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
                   "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
                   "P": Decimal("1e15"), "E": Decimal("1e18")}
_QUANTITY: Final = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[a-zA-Z]{0,2})$")


def parse(value: object) -> Decimal:
    """The quantity's value in base units (cores, bytes); `ValueError` if it is not a quantity (whatever its type:
    reviews carry untrusted JSON, where a quantity may be null, an object or a list)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, (int, float)):
        try:
            return Decimal(str(value))
        except InvalidOperation as error:
            raise ValueError(f"{value!r} is not a quantity") from error
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a quantity (for example 500m, 2, 1.5Gi)")
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a quantity (for example 500m, 2, 1.5Gi)")
    number, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation as error:
        raise ValueError(f"{value!r} is not a quantity") from error
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return base * (Decimal(10) ** int(suffix[1:]))
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    raise ValueError(f"{value!r} has an unknown suffix {suffix!r}")


def equal(a: object, b: object) -> bool:
    """Whether two quantities are the same amount (`1` and `1000m`, `1Gi` and `1073741824`)."""
    try:
        return parse(a) == parse(b)
    except ValueError:
        return a == b
