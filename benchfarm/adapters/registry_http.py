"""The farm registry over the Distribution API (v2): tags, manifests and image configs, read-only.

Why an HTTP client and not the engine: what a bisection needs is every revision pushed to the registry,
whether or not this machine's engine has pulled it, and the engine cannot list a registry.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from benchfarm.errors import NotFoundError, RegistryError

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


class RegistryHttp:
    """A plain-HTTP registry at ``address`` (``host:port``), as the farm runs its own."""

    def __init__(self, address: str, timeout_s: float = 10.0) -> None:
        self.address = address
        self.http = httpx.Client(base_url=f"http://{address}", timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, **headers: str) -> httpx.Response:
        try:
            return self.http.request(method, path, headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryError(f"the farm registry at {self.address} cannot be reached ({exc})",
                                hint="start it with `benchfarm stack up`") from exc

    def _get(self, path: str, what: str, **headers: str) -> httpx.Response:
        resp = self._request("GET", path, **headers)
        if resp.status_code == 404:
            raise NotFoundError(f"{what} is not in the farm registry at {self.address}",
                                hint="push it with `benchfarm image push`")
        if resp.status_code != 200:
            raise RegistryError(f"the farm registry answered {resp.status_code} for {what}: {resp.text[:200]}")
        return resp

    def tags(self, name: str) -> list[str]:
        """Every tag of repository ``name`` (no registry prefix), an empty list for an unknown repository."""
        try:
            data = self._get(f"/v2/{name}/tags/list?n=10000", f"repository {name}").json()
        except NotFoundError:
            return []
        return sorted(data.get("tags") or [])

    def manifest_digest_and_config(self, name: str, tag: str) -> tuple[str, dict[str, Any]]:
        """(the manifest's digest, the image config) of ``name:tag``: the config's digest is the image id."""
        resp = self._get(f"/v2/{name}/manifests/{tag}", f"{name}:{tag}", Accept=MANIFEST_TYPES)
        digest = resp.headers.get("Docker-Content-Digest", "")
        manifest = resp.json()
        config_digest = (manifest.get("config") or {}).get("digest")
        if not digest or not config_digest:
            raise RegistryError(f"{name}:{tag} has no single-image manifest (a list or an old schema)",
                                hint="push images with `benchfarm image push`, which writes a v2 manifest")
        config = json.loads(self._get(f"/v2/{name}/blobs/{config_digest}", f"config of {name}:{tag}").content)
        return digest, {"id": config_digest, "labels": ((config.get("config") or {}).get("Labels") or {}),
                        "created": config.get("created", "")}

    def delete(self, name: str, digest: str) -> None:
        """Delete a manifest by digest (the farm's registry runs with deletion on); gone already is fine."""
        resp = self._request("DELETE", f"/v2/{name}/manifests/{digest}")
        if resp.status_code not in (202, 404):
            raise RegistryError(f"the farm registry refused to delete {name}@{digest}: {resp.status_code}")
