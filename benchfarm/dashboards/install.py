"""Posting the saved objects to Kibana's import API (``POST /api/saved_objects/_import``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchfarm.errors import BenchfarmError, ServiceUnavailableError, UserInputError


@dataclass
class ImportResult:
    success: bool
    success_count: int
    errors: list[dict[str, Any]] = field(default_factory=list)


def import_url(kibana_url: str, space: str | None) -> str:
    """The import endpoint, in a space when one is given (``/s/<space>/api/...``)."""
    base = kibana_url.rstrip("/")
    if space and space != "default":
        base += f"/s/{space}"
    return base + "/api/saved_objects/_import?overwrite=true"


def install(kibana_url: str, ndjson: str, *, space: str | None = None, timeout: float = 30.0,
            auth: tuple[str, str] | None = None) -> ImportResult:
    """Import the NDJSON into Kibana (multipart file ``file``, header ``kbn-xsrf``, overwrite=true).

    Raises:
        UserInputError: the URL is malformed.
        ServiceUnavailableError: nothing answers at the URL, or Kibana answers 5xx.
        BenchfarmError: Kibana refused the import (4xx) or some objects failed.
    """
    url = import_url(kibana_url, space)
    try:
        resp = httpx.post(url, headers={"kbn-xsrf": "benchfarm"}, timeout=timeout, auth=auth,
                          files={"file": ("benchfarm.ndjson", ndjson.encode(), "application/ndjson")})
    except httpx.UnsupportedProtocol as exc:
        raise UserInputError(f"not a Kibana URL: {kibana_url!r}", hint="give e.g. http://kibana:5601") from exc
    except httpx.TransportError as exc:
        raise ServiceUnavailableError(f"Kibana at {kibana_url} is not answering ({type(exc).__name__})",
                                      hint="is Kibana running and is the URL right (default port 5601)?") from exc
    if resp.status_code == 404:
        raise BenchfarmError(f"{url} answered 404: is this Kibana? (space {space!r} may not exist)",
                             hint="check the URL and --space")
    if resp.status_code in (401, 403):
        raise BenchfarmError(f"Kibana refused the import: {resp.status_code} {resp.text[:300]}",
                             hint="pass --user/--password of a user allowed to manage saved objects")
    if resp.status_code >= 500:
        raise ServiceUnavailableError(f"Kibana failed the import: {resp.status_code} {resp.text[:300]}")
    if resp.status_code >= 400:
        raise BenchfarmError(f"Kibana refused the import: {resp.status_code} {resp.text[:300]}")
    try:
        body = resp.json()
    except json.JSONDecodeError as exc:
        raise BenchfarmError(f"{url} did not answer JSON: is this Kibana?", hint="check the URL") from exc
    result = ImportResult(bool(body.get("success")), int(body.get("successCount", 0)), list(body.get("errors", [])))
    if not result.success:
        first = result.errors[0] if result.errors else {}
        raise BenchfarmError(f"Kibana imported {result.success_count} objects but refused {len(result.errors)} "
                             f"(first: {first.get('type')} {first.get('id')}: {first.get('error')})")
    return result
