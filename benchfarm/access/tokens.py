"""API tokens per user or team, each with a role, kept hashed in Redis.

Why hashed: Redis is read by the API, the workers and the housekeeping process; a copy
of it (or a ``MONITOR`` session) must not hand out credentials. Only the SHA-256 of a
token is stored (``benchfarm:token:<sha256>``, JSON with user, team, role, created,
revoked), so a token is shown once, when created, and lookups are one ``GET``. A
revoked token keeps its record, so ``tokens list`` shows who had access and when it
ended.

Roles, each including the one before it:

- ``submit``: submit jobs; list and read the own team's jobs and every public job;
  cancel and read the logs of the own team's jobs only.
- ``operate``: also any team's jobs, and the operator actions (quarantine, release, drain).
- ``admin``: everything, including token management. The farm's own token
  (``<state_dir>/api-token``) is an admin token, so the one-host farm works as before.

The internal routes (``/internal/*``, called by the Salt side) take their own credential
(:data:`Role.INTERNAL`, ``<state_dir>/internal-token``), which opens nothing else; an admin
may call them too (the farm's token did before the internal credential existed).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from benchfarm.errors import NotFoundError, UserInputError
from benchfarm.jobs.repository import KeyValueStore

_KEY = "benchfarm:token:"
_INDEX = "benchfarm:tokens"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class Role(StrEnum):
    SUBMIT = "submit"
    OPERATE = "operate"
    ADMIN = "admin"
    INTERNAL = "internal"  # the Salt side's credential: /internal/* only

    def allows(self, needed: Role) -> bool:
        """Whether this role includes ``needed``: submit < operate < admin; the internal credential opens the
        internal routes only, which admin may call too."""
        if self is Role.ADMIN:
            return True
        if self is Role.INTERNAL or needed is Role.INTERNAL:
            return self is needed
        order = [Role.SUBMIT, Role.OPERATE, Role.ADMIN]
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Principal:
    """Who made a request: the token's user, team and role."""

    user: str
    team: str
    role: Role

    def sees_all_teams(self) -> bool:
        return self.role in (Role.OPERATE, Role.ADMIN)


#: The farm's own token (``<state_dir>/api-token``): an admin token of the farm.
FARM_ADMIN = Principal(user="farm", team="farm", role=Role.ADMIN)
#: The internal routes' credential (``<state_dir>/internal-token``): the Salt side.
SALT_INTERNAL = Principal(user="salt", team="farm", role=Role.INTERNAL)


@dataclass(frozen=True)
class TokenRecord:
    """A token as stored: never the token itself, only its SHA-256 (``id`` is its first 12 hex digits)."""

    sha256: str
    user: str
    team: str
    role: Role
    created: str
    revoked: str | None = None

    @property
    def id(self) -> str:
        return self.sha256[:12]

    @property
    def principal(self) -> Principal:
        return Principal(self.user, self.team, self.role)

    def public(self) -> dict[str, Any]:
        """The record as ``tokens list`` shows it (the hash shortened to its id)."""
        return {"id": self.id, "user": self.user, "team": self.team, "role": self.role.value,
                "created": self.created, "revoked": self.revoked}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class TokenStore:
    """Creates, finds, lists and revokes API tokens in the key-value store (Redis)."""

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    def create(self, user: str, team: str, role: Role | str) -> tuple[str, TokenRecord]:
        """A new token for ``user`` of ``team`` with ``role``.

        Returns:
            The token (shown this once; only its hash is kept) and its record.
        Raises:
            UserInputError: a user or team name that is not a plain name, or an unknown role.
        """
        for what, name in (("user", user), ("team", team)):
            if not _NAME.match(name):
                raise UserInputError(f"{what} {name!r} is not a plain name",
                                     hint="use letters, digits, '.', '_', '@' or '-' (at most 64)")
        try:
            role = Role(role)
        except ValueError:
            raise UserInputError(f"unknown role {role!r}", hint="roles: submit, operate, admin") from None
        if role is Role.INTERNAL:
            raise UserInputError("the internal credential is not a user token",
                                 hint="the Salt side uses <state_dir>/internal-token; roles: submit, operate, admin")
        token = "bf_" + secrets.token_urlsafe(32)
        record = TokenRecord(sha256=token_hash(token), user=user, team=team, role=role, created=_now())
        self.kv.set(_KEY + record.sha256, json.dumps({**asdict(record), "role": role.value}))
        self.kv.zadd(_INDEX, record.sha256, datetime.now(UTC).timestamp())
        return token, record

    def lookup(self, token: str) -> TokenRecord | None:
        """The record of ``token`` (revoked ones included), or None when it was never issued."""
        raw = self.kv.get(_KEY + token_hash(token))
        return _load(raw) if raw else None

    def list(self) -> list[TokenRecord]:
        """Every token ever issued, newest first (revoked ones included)."""
        hashes = self.kv.zrevrange(_INDEX, 0, -1)
        return [_load(raw) for raw in self.kv.mget([_KEY + h for h in hashes]) if raw]

    def revoke(self, token_id: str) -> TokenRecord:
        """Revoke the token whose id (or a longer prefix of its hash) is ``token_id``; idempotent.

        Raises:
            NotFoundError: no token, or more than one, has that id.
        """
        found = [r for r in self.list() if token_id and r.sha256.startswith(token_id.lower())]
        if len(found) != 1:
            what = f"no token with id {token_id!r}" if not found else f"token id {token_id!r} is ambiguous"
            raise NotFoundError(what, hint="see the ids with `benchfarm tokens list`")

        def mark(raw: str | None) -> tuple[str | None, TokenRecord]:
            data = json.loads(raw or "{}")
            data["revoked"] = data.get("revoked") or _now()
            return json.dumps(data), _load(json.dumps(data))

        record: TokenRecord = self.kv.transact(_KEY + found[0].sha256, mark)
        return record


def _load(raw: str) -> TokenRecord:
    data = json.loads(raw)
    return TokenRecord(sha256=data["sha256"], user=data["user"], team=data["team"], role=Role(data["role"]),
                       created=data["created"], revoked=data.get("revoked"))
