"""HTTP client of the farm's API, used by the CLI (and by Jenkins through the CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Self

import httpx

from benchfarm.errors import AuthError, BenchfarmError, NotFoundError, ServiceUnavailableError, UserInputError
from benchfarm.settings import Settings

#: Seconds ``POST /campaigns`` may take: it submits every job of the campaign before it answers.
SUBMIT_CAMPAIGN_TIMEOUT_S = 600.0


class ApiClient:
    """Talks to `benchfarm api serve` with the bearer token from the settings."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(settings.effective_api_url, settings.resolved_api_token())

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(
                f"the benchfarm API at {self.base_url} is not answering ({type(exc).__name__})",
                hint="start the farm with `benchfarm stack up`, or set BENCHFARM_API_URL",
            ) from exc
        if resp.status_code < 400:
            return resp
        try:
            body = resp.json()
            message, hint = body.get("error") or body.get("detail"), body.get("hint")
        except ValueError:
            message, hint = resp.text[:500], None
        if resp.status_code == 401:
            raise AuthError(f"the API refused the request: {message}",
                            hint="set BENCHFARM_API_TOKEN, or run as root on the farm host (token in the state dir)")
        if resp.status_code == 404:
            raise NotFoundError(str(message), hint=hint)
        if resp.status_code in (400, 409, 422):
            raise UserInputError(str(message), hint=hint)
        if resp.status_code == 503:
            raise ServiceUnavailableError(str(message), hint=hint)
        raise BenchfarmError(f"API error {resp.status_code}: {message}", hint=hint)

    def submit(self, spec: dict[str, Any], queue_anyway: bool = False) -> dict[str, Any]:
        return self._request("POST", "/jobs", json=spec, params={"queue_anyway": str(queue_anyway).lower()}).json()

    def submit_many(self, specs: list[dict[str, Any]], queue_anyway: bool = False) -> list[dict[str, Any]]:
        """``POST /jobs:bulk``: every spec stored and queued, or none (the first refusal raised)."""
        resp = self._request("POST", "/jobs:bulk", json={"jobs": specs},
                             params={"queue_anyway": str(queue_anyway).lower()}, timeout=SUBMIT_CAMPAIGN_TIMEOUT_S)
        return list(resp.json()["jobs"])

    def job(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/jobs/{job_id}").json()

    def jobs(self, **filters: Any) -> list[dict[str, Any]]:
        return self._request("GET", "/jobs", params={k: v for k, v in filters.items() if v is not None}).json()

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._request("DELETE", f"/jobs/{job_id}").json()

    def logs(self, job_id: str) -> str:
        return self._request("GET", f"/jobs/{job_id}/logs").text

    def events(self, job_id: str) -> list[dict[str, Any]]:
        return self._request("GET", f"/jobs/{job_id}/events", params={"follow": "false"}).json()

    def follow(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Server-sent events of a job until it is final."""
        try:
            with self.http.stream("GET", f"/jobs/{job_id}/events", timeout=httpx.Timeout(30, read=None)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._request("GET", f"/jobs/{job_id}")  # raises the proper error
                for line in resp.iter_lines():
                    if line.startswith("data:"):
                        yield json.loads(line[5:].strip())
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(
                f"lost the event stream of {job_id}: {exc}",
                hint=f"the job goes on; follow it again with `benchfarm jobs events {job_id}`",
            ) from exc

    # campaigns ---------------------------------------------------------------------
    def submit_campaign(self, request: dict[str, Any], queue_anyway: bool = False) -> dict[str, Any]:
        # one request submits every job: the first may push the image to the farm registry
        return self._request("POST", "/campaigns", json=request, params={"queue_anyway": str(queue_anyway).lower()},
                             timeout=SUBMIT_CAMPAIGN_TIMEOUT_S).json()

    def campaigns(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._request("GET", "/campaigns", params={"limit": limit}).json()

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        return self._request("GET", f"/campaigns/{campaign_id}").json()

    def cancel_campaign(self, campaign_id: str) -> dict[str, Any]:
        return self._request("DELETE", f"/campaigns/{campaign_id}").json()

    def compare_campaign(self, campaign_id: str, reference: str | None = None,
                         prices: list[str] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"price": prices or []}
        if reference:
            params["reference"] = reference
        return self._request("GET", f"/campaigns/{campaign_id}/compare", params=params).json()

    def campaign_junit(self, campaign_id: str) -> str:
        return self._request("GET", f"/campaigns/{campaign_id}/junit").text

    # schedules ---------------------------------------------------------------------
    def add_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/schedules", json=request).json()

    def schedules(self) -> list[dict[str, Any]]:
        return self._request("GET", "/schedules").json()

    def remove_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._request("DELETE", f"/schedules/{schedule_id}").json()

    def hosts(self) -> list[dict[str, Any]]:
        return self._request("GET", "/hosts").json()

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self._request("GET", path, params=params)
