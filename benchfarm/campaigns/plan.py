"""Expanding a campaign request into jobs: every target times every point of the parameter matrix.

Pure functions over plain data, so the CLI (parsing flags), the API (validating a request)
and the service (submitting) share one grammar:

- a target is ``pool:NAME`` (a bare ``NAME`` is a pool too) or ``host:ID``; no target means
  the spec's own requirements;
- a matrix axis is ``KEY=v1,v2``: KEY is an environment variable of the spec
  (e.g. ``SYSBENCH_THREADS``), each value one point on that axis; several axes multiply.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from benchfarm.campaigns.model import CAMPAIGN_LABEL, POINT_LABEL, TARGET_LABEL, CampaignJob, point_key
from benchfarm.errors import UserInputError

#: The most jobs one campaign may create (a typo in a matrix should not flood the farm).
MAX_JOBS = 200
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Target:
    """Where a campaign's jobs go: a pool, one host (with its pool), or anywhere the spec allows."""

    kind: Literal["pool", "host", "any"]
    name: str = ""
    pool: str | None = None

    @property
    def label(self) -> str:
        return "any" if self.kind == "any" else f"{self.kind}:{self.name}"


ANYWHERE = Target("any")


def parse_targets(items: Iterable[str]) -> list[Target]:
    """``pool:A,pool:B`` (or several items, or bare pool names) -> targets, in order, without duplicates.

    Raises:
        UserInputError: an empty or malformed target, or a kind other than pool/host.
    """
    targets: list[Target] = []
    for item in items:
        for part in (p.strip() for p in item.split(",")):
            kind, _, name = part.rpartition(":") if ":" in part else ("pool", "", part)
            if kind not in ("pool", "host") or not _NAME.match(name or ""):
                raise UserInputError(f"bad campaign target {part!r}",
                                     hint="write pool:NAME or host:ID, comma-separated, e.g. --across pool:a,pool:b")
            target = Target(kind, name, name if kind == "pool" else None)  # type: ignore[arg-type]
            if target not in targets:
                targets.append(target)
    return targets


def parse_matrix(items: Iterable[str]) -> dict[str, list[str]]:
    """``KEY=v1,v2`` items -> {KEY: [v1, v2]} in the order given.

    Raises:
        UserInputError: no ``=``, a KEY that is not an environment variable name, a key
            given twice, or an empty or repeated value.
    """
    matrix: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not _ENV_NAME.match(key):
            raise UserInputError(f"bad --matrix {item!r}",
                                 hint="write KEY=v1,v2 where KEY is an environment variable of the spec, "
                                      "e.g. --matrix SYSBENCH_THREADS=1,2")
        if key in matrix:
            raise UserInputError(f"--matrix {key} given twice", hint="list all its values in one --matrix")
        vals = [v.strip() for v in values.split(",")]
        if not all(vals) or len(set(vals)) != len(vals):
            raise UserInputError(f"--matrix {item!r} has an empty or repeated value",
                                 hint="write distinct values separated by commas")
        matrix[key] = vals
    return matrix


def checked_shape(env: Mapping[str, str], *, across: list[str], each_host: bool, pool: str | None,
                  matrix: Mapping[str, list[str]], spec_name: str) -> tuple[list[Target], dict[str, list[str]]]:
    """What a campaign request can be refused for without the farm's state: (its ``across`` targets, its
    parsed matrix). ``each_host``'s targets are the farm's hosts, found when the campaign is created.

    Raises:
        UserInputError: each_host with across, pool without each_host, a malformed target or matrix, or a
            matrix key the spec has no environment variable for.
    """
    if each_host and across:
        raise UserInputError("--each-host and --across exclude each other", hint="give one of them")
    if pool and not each_host:
        raise UserInputError("--pool goes with --each-host", hint="for pools as targets use --across pool:NAME")
    targets = parse_targets(across)
    axes = parse_matrix(f"{k}={','.join(v)}" for k, v in matrix.items())
    unknown = [k for k in axes if k not in env]
    if unknown:
        raise UserInputError(f"--matrix {', '.join(unknown)}: not an environment variable of spec "
                             f"{spec_name!r} (its env: {', '.join(env) or 'none'})",
                             hint="add it to the spec's env with its default value, or fix the name")
    return targets, axes


def points(matrix: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every point of the matrix (the cartesian product, first axis slowest); one empty point without axes."""
    keys = list(matrix)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(matrix[k] for k in keys))]


def plan_jobs(spec: dict[str, Any], targets: list[Target], matrix: dict[str, list[str]],
              campaign_id: str) -> list[tuple[CampaignJob, dict[str, Any]]]:
    """One job spec (as data, to be validated by the spec loader) per (target, point).

    Each sets the point's environment variables, the target's pool as a requirement, and
    the campaign, target and point labels.

    Raises:
        UserInputError: more than :data:`MAX_JOBS` jobs.
    """
    all_points = points(matrix)
    targets = targets or [ANYWHERE]
    if len(targets) * len(all_points) > MAX_JOBS:
        raise UserInputError(f"the campaign would create {len(targets) * len(all_points)} jobs, more than "
                             f"{MAX_JOBS}", hint="use fewer targets or matrix values")
    planned = []
    for target in targets:
        for point in all_points:
            data = copy.deepcopy(spec)
            data["env"] = {**(data.get("env") or {}), **point}
            if target.pool:
                data["requirements"] = {**(data.get("requirements") or {}), "pool": target.pool}
            data["labels"] = {**(data.get("labels") or {}), CAMPAIGN_LABEL: campaign_id,
                              TARGET_LABEL: target.label, POINT_LABEL: point_key(point)}
            pool = target.pool or (data.get("requirements") or {}).get("pool")
            planned.append((CampaignJob(target=target.label, pool=pool, point=point), data))
    return planned
