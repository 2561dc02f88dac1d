"""Docker engine adapter: the only module (with docker_images) that imports ``docker``."""

from __future__ import annotations

import docker
import docker.errors

from benchfarm.errors import ServiceUnavailableError
from benchfarm.settings import Settings


class DockerEngine:
    """A thin wrapper over a docker-py client for the calls the farm makes."""

    def __init__(self, url: str, timeout: int = 60) -> None:
        self.url = url
        self.timeout = timeout
        self._client: docker.DockerClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "DockerEngine":
        return cls(settings.docker_url)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.DockerClient(base_url=self.url, timeout=self.timeout)
            except docker.errors.DockerException as exc:
                raise ServiceUnavailableError(
                    f"cannot reach the Docker engine at {self.url}",
                    hint="start the farm with `benchfarm stack up` or set BENCHFARM_DOCKER_URL",
                ) from exc
        return self._client

    def ping(self) -> bool:
        """True when the engine answers; raises ServiceUnavailableError otherwise."""
        try:
            return bool(self.client.ping())
        except (docker.errors.DockerException, OSError) as exc:
            self._client = None
            raise ServiceUnavailableError(
                f"the Docker engine at {self.url} is not answering",
                hint="start the farm with `benchfarm stack up` or set BENCHFARM_DOCKER_URL",
            ) from exc

    def version(self) -> dict:
        return self.client.version()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
