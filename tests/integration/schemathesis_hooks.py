"""Schemathesis hooks of the API fuzz run (``test_api_fuzz.py``), loaded through ``SCHEMATHESIS_HOOKS``.

Eight kinds of generated request are not sent, each for a reason the OpenAPI document
cannot carry; everything else is checked with ``--checks all``:

- a *positive* ``POST /jobs`` body (or a spec of a ``POST /jobs:bulk`` body) the spec
  loader refuses. JSON Schema cannot say "a valid regular expression"
  (``requirements.cpu_model``), "``adaptive.max_repetitions`` at least ``min_repetitions``" or
  "a ``thresholds.per_metric`` key is a declared metric", so such a body is schema-valid and
  still rightly answered 422. The loader is the API's own validation, so a body it accepts
  must not be refused: that part stays checked.
- a job spec (alone or in a bulk body) naming its image by digest in a registry
  (``host/name@sha256:...``): the API makes the Docker engine pull it, and the farm host has
  no route to a made-up registry (the engine's failure, a 502, would say nothing about the API).
- a *positive* ``POST /internal/host-events`` body the host-event model refuses: JSON Schema
  cannot say "a container policy's default at most its maximum" (``default_pids_limit`` and
  ``max_pids_limit``, ``default_memory_bytes`` and ``max_memory_bytes``), so such a body is
  schema-valid and rightly answered 422. A body the model accepts stays checked.
- a *positive* ``POST /campaigns`` body whose spec the loader refuses, or whose targets or
  matrix the campaign grammar refuses (a matrix key must be an env variable of the spec): the
  request schema documents the spec as an object, the loader and the grammar validate it.
- a *positive* ``POST /schedules`` body the same checks refuse, or whose cron expression the
  farm's cron parser refuses (a grammar JSON Schema cannot carry).
- a *positive* ``GET /history`` naming both a ``host`` and a hardware ``class``: a series is of
  one or the other, which query parameters in OpenAPI cannot say, so it is rightly answered 422.
- a *positive* ``POST /pools`` or ``PATCH /pools/{name}`` body the pool definition refuses (``min_hosts``
  above ``max_hosts``, shares adding up to more than 1: JSON Schema cannot compare fields), or that gives
  ``shares`` (its teams must exist, which is the farm's state), and any pool body with ``min_hosts`` above 0:
  the fuzz must not make the autoscaler create hosts (the test puts the pools back as they were).
- a host event for one of the farm's real hosts (``BENCHFARM_FUZZ_PROTECTED_HOSTS``,
  comma-separated): the fuzz must not quarantine or retire the host other tests run on.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from pydantic import ValidationError

from benchfarm.api.models import HostEvent
from benchfarm.errors import SpecError
from benchfarm.spec.loader import load_spec_data

PROTECTED_HOSTS = frozenset(filter(None, os.environ.get("BENCHFARM_FUZZ_PROTECTED_HOSTS", "").split(",")))


def _pulls_from_a_registry(spec: dict[str, Any]) -> bool:
    image = spec.get("image")
    return isinstance(image, str) and "@sha256:" in image and "/" in image.split("@", 1)[0]


def _loader_refuses(spec: dict[str, Any]) -> bool:
    try:
        load_spec_data(spec)
    except SpecError:
        return True
    return False


def _campaign_refused(body: dict[str, Any]) -> bool:
    from benchfarm.campaigns.plan import checked_shape
    from benchfarm.errors import UserInputError

    spec = body.get("spec")
    if not isinstance(spec, dict) or _pulls_from_a_registry(spec) or _loader_refuses(spec):
        return True
    try:  # the check the campaign and schedule services make
        checked_shape(spec.get("env") or {}, across=body.get("across") or [], each_host=bool(body.get("each_host")),
                      pool=body.get("pool"), matrix=body.get("matrix") or {}, spec_name=str(spec.get("name")))
    except (UserInputError, TypeError):
        return True
    return False


def _cron_refused(cron: Any) -> bool:
    from benchfarm.schedules.cron import validate

    try:
        validate(cron)
    except (ValueError, TypeError):
        return True
    return False


def _pool_body_left_out(body: dict[str, Any], positive: bool, name: str | None) -> bool:
    from benchfarm.elastic.definition import PoolDefinition

    min_hosts = body.get("min_hosts")
    if isinstance(min_hosts, int) and min_hosts > 0:
        return True
    if not positive:
        return False
    if body.get("shares"):
        return True
    try:
        PoolDefinition.model_validate({**body, "name": name} if name else body)
    except ValidationError:
        return True
    return False


def _host_event_refused(body: dict[str, Any]) -> bool:
    try:
        HostEvent.model_validate(body)
    except ValidationError:
        return True
    return False


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:
    """Keep a generated case unless it is one of the eight kinds the module docstring names."""
    method, path = case.operation.method.upper(), case.operation.path
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if (method, path) == ("GET", "/history"):
        query = case.query or {}
        return not (positive and query.get("host") is not None and query.get("class") is not None)
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return True
    if (method, path) == ("POST", "/jobs"):
        if _pulls_from_a_registry(body):
            return False
        return not (positive and _loader_refuses(body))
    if (method, path) == ("POST", "/jobs:bulk"):
        specs = body.get("jobs") if isinstance(body.get("jobs"), list) else []
        if any(isinstance(spec, dict) and _pulls_from_a_registry(spec) for spec in specs):
            return False
        return not (positive and any(not isinstance(spec, dict) or _loader_refuses(spec) for spec in specs))
    if (method, path) == ("POST", "/campaigns"):
        return not (positive and _campaign_refused(body))
    if (method, path) == ("POST", "/schedules"):
        return not (positive and (_campaign_refused(body) or _cron_refused(body.get("cron"))))
    if (method, path) == ("POST", "/pools"):
        return not _pool_body_left_out(body, positive, None)
    if (method, path) == ("PATCH", "/pools/{name}"):
        # checked as a change of a pool of defaults (the fuzz makes only such pools; min_hosts stays 0)
        return not _pool_body_left_out(body, positive, "fuzz")
    if (method, path) == ("POST", "/internal/host-events"):
        host_id = body.get("host_id")
        if isinstance(host_id, str) and host_id in PROTECTED_HOSTS:
            return False
        return not (positive and _host_event_refused(body))
    return True
