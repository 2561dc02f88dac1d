"""A pool's definition: how its hosts are made (a salt-cloud profile, or CPUs and memory for the node
provider), how many may exist, when an idle one goes, what a host-hour costs, the daily budget, and
what happens to a host that fails its health check or drifts.

Validated here, once, with messages that say which field is wrong and what would be right, so the CLI
and the API give the same answer.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from benchfarm.errors import UserInputError

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_CPUS = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_TEAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")  # as benchfarm.access.tokens names teams
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*([kmgt](i?b)?|b)?$", re.IGNORECASE)
_PROFILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ReplacePolicy(StrEnum):
    """What happens to a host of the pool that fails its health check or drifts."""

    ON_HEALTH_CHECK = "on-health-check"  # failed health check: drain, destroy, create again from the profile
    ON_DRIFT = "on-drift"                # as above, and also when Salt reports drift from the pool's states
    NEVER = "never"                      # quarantine it (a person looks at it), as for a racked machine


class PoolSettings(BaseModel):
    """What a person sets on an elastic pool besides its name: the body of ``PATCH /pools/NAME`` (only the
    fields given change). Patterns are in the JSON Schema so API clients see them; the checks that need
    several fields, and the messages that say what would be right, are :class:`PoolDefinition`'s."""

    # numbers are strict: ``true`` or ``"3"`` is not a number of hosts or dollars (JSON Schema says so too)
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    profile: str | None = Field(default=None, description="a salt-cloud profile; default: the node provider's, "
                                                          "made from cpus and memory",
                                json_schema_extra={"pattern": _PROFILE.pattern})
    cpus: str = Field(default="0", description="the node provider's CPU set per host (kernel list form)",
                      json_schema_extra={"pattern": _CPUS.pattern})
    memory: str = Field(default="1g", description="the node provider's memory per host",
                        json_schema_extra={"pattern": r"^\d+(\.\d+)?\s*([kKmMgGtT]([iI]?[bB])?|[bB])?$"})
    min_hosts: int = Field(default=0, ge=0, le=1000, strict=True)
    max_hosts: int = Field(default=1, ge=0, le=1000, strict=True)
    idle_timeout_s: float = Field(default=600.0, gt=0, strict=True,
                                  description="an idle host above min goes after this long")
    price_per_host_hour: float = Field(default=0.0, ge=0, strict=True)
    daily_budget: float | None = Field(default=None, ge=0, strict=True,
                                       description="spend per UTC day; None: no budget")
    replace: ReplacePolicy = ReplacePolicy.ON_HEALTH_CHECK
    shares: dict[str, Annotated[float, Strict()]] = Field(
        default_factory=dict, description="team -> fraction of the pool's hosts it is served first up to, at "
        "dispatch (benchfarm.elastic.fair_share); a team may borrow what others leave idle")


class NewPool(PoolSettings):
    """The body of ``POST /pools``: a name and the settings (unset ones take their defaults)."""

    name: str = Field(json_schema_extra={"pattern": _NAME.pattern})


class PoolDefinition(NewPool):
    """An elastic pool. ``profile`` names a salt-cloud profile; without one the farm writes a profile for
    its node provider from ``cpus`` and ``memory`` (``benchfarm-node-<pool>``)."""

    created_at: float = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> PoolDefinition:
        if not _NAME.match(self.name):
            raise ValueError(f"{self.name!r} is not a valid pool name: use lower-case letters, digits, '.', '_' "
                             "and '-' (it becomes a Salt grain and a queue name)")
        if self.min_hosts > self.max_hosts:
            raise ValueError(f"min_hosts ({self.min_hosts}) is above max_hosts ({self.max_hosts})")
        if not _CPUS.match(self.cpus):
            raise ValueError(f"cpus {self.cpus!r} is not a CPU list such as 0, 0-1 or 0,2")
        if not _MEMORY.match(self.memory):
            raise ValueError(f"memory {self.memory!r} is not a size such as 1g or 512m")
        for team, fraction in self.shares.items():
            if not _TEAM.match(team):
                raise ValueError(f"share team {team!r} is not a team name (letters, digits, '.', '_', '@', '-')")
            if not 0 < fraction <= 1:
                raise ValueError(f"share of team {team} is {fraction:g}: give a fraction of the pool's hosts in (0, 1]")
        if sum(self.shares.values()) > 1 + 1e-9:
            raise ValueError(f"shares add up to {sum(self.shares.values()):g}: they are fractions of the pool's "
                             "hosts and may add up to 1 at most")
        if self.profile is not None and not _PROFILE.match(self.profile):
            raise ValueError(f"profile {self.profile!r} is not a salt-cloud profile name")
        return self

    @property
    def cloud_profile(self) -> str:
        """The salt-cloud profile hosts are created from."""
        return self.profile or f"benchfarm-node-{self.name}"

    def summary(self) -> str:
        """One line for people."""
        budget = "no budget" if self.daily_budget is None else f"budget {self.daily_budget:g}/day"
        return (f"{self.min_hosts}-{self.max_hosts} hosts from {self.cloud_profile}, idle timeout "
                f"{self.idle_timeout_s:g} s, {self.price_per_host_hour:g}/host-hour, {budget}, "
                f"replace {self.replace.value}" + (", shares " + ", ".join(
                    f"{t} {f:g}" for t, f in sorted(self.shares.items())) if self.shares else ""))


def parse_definition(data: dict) -> PoolDefinition:
    """A definition from user input (CLI options, an API body).

    Raises:
        UserInputError: a field is missing, unknown or out of range (the message names each one).
    """
    try:
        return PoolDefinition.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "pool"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise UserInputError("invalid pool definition: " + "; ".join(problems),
                             hint="see `benchfarm pool create --help` for each field and its range") from exc
