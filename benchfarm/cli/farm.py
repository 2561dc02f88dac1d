"""The CLI's access to the composition root: one :class:`~benchfarm.composition.Farm` per command."""

from __future__ import annotations

from functools import lru_cache

from benchfarm.composition import Farm
from benchfarm.settings import get_settings


@lru_cache(maxsize=1)
def farm() -> Farm:
    """The farm built from this command's settings (clients are made on first use)."""
    return Farm(get_settings())
