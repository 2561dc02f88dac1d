"""Prices per host-hour for performance per dollar: the pool's definition, or a price given for the request."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from benchfarm.errors import UserInputError

_PRICE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*=\s*\$?([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:/\s*h)?\s*$")

POOL_SOURCE = "pool definition"
GIVEN_SOURCE = "given"


def parse_prices(items: Iterable[str]) -> dict[str, float]:
    """``POOL=USD/h`` items (``a=0.42``, ``a=0.42/h``, ``a=$0.42/h``) -> {pool: USD per host-hour}.

    Raises:
        UserInputError: a malformed item, or a price that is not positive.
    """
    prices: dict[str, float] = {}
    for item in items:
        m = _PRICE.match(item)
        if m is None or not (math.isfinite(price := float(m.group(2))) and price > 0):
            raise UserInputError(f"bad price {item!r}", hint="write POOL=USD per host-hour, e.g. --price a=0.42/h")
        prices[m.group(1)] = price
    return prices


def merge_prices(defined: dict[str, float], given: dict[str, float]) -> dict[str, tuple[float, str]]:
    """pool -> (price, source): a price given with the request wins over the pool's definition;
    a defined price of 0 (the default: unpriced) is left out."""
    merged = {pool: (price, POOL_SOURCE) for pool, price in defined.items() if price > 0}
    merged.update({pool: (price, GIVEN_SOURCE) for pool, price in given.items()})
    return merged
