"""Pool definitions and the autoscaler's ledger, in the farm's key-value store (Redis).

``benchfarm:pools:elastic``        pool name -> its definition (JSON)
``benchfarm:pools:elastic:hosts``  host name -> the ledger entry of a host the autoscaler made
``benchfarm:pools:elastic:usage``  ``<pool>|<UTC day>`` -> host-seconds of hosts already destroyed
``benchfarm:pools:elastic:shares`` pool name -> its teams' shares (JSON), when it gives any

Shares are kept apart from the rest of the definition so that a process of the release before them
(whose definition model forbids unknown fields) still reads every definition while the farm's
processes are restarted one by one: it ignores the shares instead of failing on them.

The ledger is written only through a :class:`~benchfarm.elastic.lease.Fence` (the decision-maker's
lease); definitions are written by people (CLI, API).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from benchfarm.elastic.definition import PoolDefinition, parse_definition
from benchfarm.elastic.lease import Fence
from benchfarm.errors import ConflictError, NotFoundError, UserInputError

DEFINITIONS_KEY = "benchfarm:pools:elastic"
LEDGER_KEY = "benchfarm:pools:elastic:hosts"
USAGE_KEY = "benchfarm:pools:elastic:usage"
SHARES_KEY = "benchfarm:pools:elastic:shares"

CREATING, LIVE, DRAINING, DESTROYING = "creating", "live", "draining", "destroying"


class HashStore(Protocol):
    def hset(self, key: str, field: str, value: str) -> None: ...
    def hgetall(self, key: str) -> dict[str, str]: ...
    def hdel(self, key: str, field: str) -> None: ...


@dataclass
class HostEntry:
    """A host the autoscaler made, and where it is in its life."""

    name: str
    pool: str
    state: str                 # creating, live, draining, destroying
    created_at: float          # wall: when its creation began (billing starts)
    since: float               # wall: when it entered ``state``
    last_busy: float           # wall: the last pass that saw it run a job (or when it went live)
    reason: str = ""           # why it is in this state
    error: str = ""            # the last failure to create or destroy it
    replace: bool = False      # drained to be replaced: a successor is created when it is destroyed
    jobs: dict[str, float] = field(default_factory=dict)  # job id -> wall time a pass first saw it run here

    @classmethod
    def from_json(cls, raw: str) -> HostEntry:
        data = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class PoolUsage:
    """Host-seconds per UTC day of hosts already destroyed, for one pool."""

    by_day: dict[str, float] = field(default_factory=dict)


class ElasticPoolStore:
    """Definitions (people write them) and the ledger (the lease holder writes it)."""

    def __init__(self, kv: HashStore, clock: Any = time, teams: Callable[[], set[str]] | None = None) -> None:
        self.kv = kv
        self.clock = clock
        self.teams = teams  # the teams of the API's users, which shares must name (None: not checked)

    def _check_teams(self, pool: PoolDefinition) -> None:
        """Shares name teams that have API users: a typo would give a share to nobody."""
        if not pool.shares or self.teams is None:
            return
        unknown = sorted(set(pool.shares) - self.teams())
        if unknown:
            raise UserInputError(f"pool {pool.name}: no API user is of team(s) {', '.join(unknown)}",
                                 hint="shares name the teams of API tokens: see `benchfarm tokens list`, or "
                                      "create one with `benchfarm tokens create --user USER --team TEAM`")

    # definitions -------------------------------------------------------------
    def definitions(self) -> dict[str, PoolDefinition]:
        shares = self.kv.hgetall(SHARES_KEY)
        out = {k: PoolDefinition.model_validate_json(v) for k, v in self.kv.hgetall(DEFINITIONS_KEY).items()}
        return {k: d.model_copy(update={"shares": json.loads(shares[k])}) if k in shares else d
                for k, d in out.items()}

    def all_shares(self) -> dict[str, dict[str, float]]:
        """Pool -> its teams' shares, for the pools that give any (one read: dispatch asks it for every job)."""
        return {k: json.loads(v) for k, v in self.kv.hgetall(SHARES_KEY).items()}

    def _write(self, pool: PoolDefinition) -> None:
        self.kv.hset(DEFINITIONS_KEY, pool.name, pool.model_dump_json(exclude={"shares"}))
        if pool.shares:
            self.kv.hset(SHARES_KEY, pool.name, json.dumps(pool.shares))
        else:
            self.kv.hdel(SHARES_KEY, pool.name)

    def find(self, name: str) -> PoolDefinition | None:
        return self.definitions().get(name)

    def get(self, name: str) -> PoolDefinition:
        """Raises NotFoundError when pool ``name`` has no definition."""
        found = self.find(name)
        if found is None:
            raise NotFoundError(f"pool {name!r} is not an elastic pool (no definition)",
                                hint=f"define it with `benchfarm pool create {name} --max-hosts N ...`")
        return found

    def create(self, data: dict[str, Any]) -> PoolDefinition:
        """Store a new definition. Raises UserInputError when it is invalid, ConflictError (409) when the pool
        is defined already."""
        pool = parse_definition({**data, "created_at": self.clock.time()})
        self._check_teams(pool)
        if self.find(pool.name) is not None:
            raise ConflictError(f"pool {pool.name!r} is defined already",
                                 hint=f"change it with `benchfarm pool edit {pool.name} ...`")
        self._write(pool)
        return pool

    def edit(self, name: str, changes: dict[str, Any]) -> PoolDefinition:
        """Change fields of a definition (validated as a whole). Raises NotFoundError, UserInputError."""
        current = self.get(name)
        if "name" in changes and changes["name"] != name:
            raise UserInputError("a pool cannot be renamed", hint="create another pool and move the jobs")
        pool = parse_definition({**current.model_dump(), **changes})
        self._check_teams(pool)
        self._write(pool)
        return pool

    def delete(self, name: str) -> bool:
        """Forget a definition (its hosts are the autoscaler's no more). False when there was none."""
        if self.find(name) is None:
            return False
        self.kv.hdel(DEFINITIONS_KEY, name)
        self.kv.hdel(SHARES_KEY, name)
        return True

    # ledger ------------------------------------------------------------------
    def entries(self) -> dict[str, HostEntry]:
        return {k: HostEntry.from_json(v) for k, v in self.kv.hgetall(LEDGER_KEY).items()}

    def put_entry(self, fence: Fence, entry: HostEntry) -> bool:
        """Write a ledger entry under the lease; False when the lease was lost."""
        return fence.hset(LEDGER_KEY, entry.name, entry.to_json())

    def drop_entry(self, fence: Fence, name: str) -> bool:
        return fence.hdel(LEDGER_KEY, name)

    # usage -------------------------------------------------------------------
    def usage(self) -> dict[str, PoolUsage]:
        out: dict[str, PoolUsage] = {}
        for k, v in self.kv.hgetall(USAGE_KEY).items():
            pool, _, day = k.rpartition("|")
            out.setdefault(pool, PoolUsage()).by_day[day] = float(v)
        return out

    def add_usage(self, fence: Fence, pool: str, seconds_by_day: dict[str, float]) -> None:
        """Add a destroyed host's seconds to its pool's days (read-modify-write: only the lease holder writes)."""
        current = self.usage().get(pool, PoolUsage()).by_day
        for day, seconds in seconds_by_day.items():
            fence.hset(USAGE_KEY, f"{pool}|{day}", repr(current.get(day, 0.0) + seconds))
