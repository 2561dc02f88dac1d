"""The CLI's access to the composition root: one :class:`~benchfarm.composition.Farm` per command."""

from __future__ import annotations

import getpass
from functools import lru_cache

from benchfarm.access.tokens import Principal, Role
from benchfarm.composition import Farm
from benchfarm.settings import get_settings


@lru_cache(maxsize=1)
def farm() -> Farm:
    """The farm built from this command's settings (clients are made on first use)."""
    return Farm(get_settings())


def local_operator() -> Principal:
    """Who runs this command: the local user, an admin (the CLI talks to the farm's services directly)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal(user=f"local:{user}", team="farm", role=Role.ADMIN)


def audit(action: str, target: str, reason: str | None = None) -> None:
    """Record an operator action taken with the CLI in the audit index (written at the latest as it exits)."""
    farm().audit.record(action, "allowed", local_operator(), target=target, reason=reason)
