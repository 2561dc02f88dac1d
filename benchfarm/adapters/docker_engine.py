"""Docker engine adapter: the only module (with docker_images) that imports ``docker``."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from benchfarm.errors import BenchmarkFailedError, NotFoundError, RegistryError, ServiceUnavailableError
from benchfarm.images.model import ImageInfo
from benchfarm.settings import Settings
from benchfarm.spec.fields import RESULTS_MOUNT

if TYPE_CHECKING:
    from benchfarm.runner.container_spec import ContainerSpec, GpuRequest


class DockerEngine:
    """A thin wrapper over a docker-py client for the calls the farm makes."""

    def __init__(self, url: str, timeout: int = 60) -> None:
        self.url = url
        self.timeout = timeout
        self._client: docker.DockerClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
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

    def data_root(self) -> str:
        """Where the engine keeps images and containers (``DockerRootDir`` of ``docker info``)."""
        with _engine_errors("reading the engine's info"):
            return str(self.client.info().get("DockerRootDir") or "/var/lib/docker")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


# --- containers and images for the runner --------------------------------------


@dataclass
class ContainerState:
    """What the engine says about a container after (or while) it runs."""

    id: str
    status: str
    exit_code: int | None
    oom_killed: bool
    started_at: datetime | None
    finished_at: datetime | None
    error: str


def device_requests(gpus: GpuRequest) -> list[docker.types.DeviceRequest]:
    """Docker ``device_requests`` (the API form of ``--gpus``) for a GPU request."""
    return [docker.types.DeviceRequest(
        driver=gpus.driver,
        count=gpus.count if gpus.device_ids is None else None,
        device_ids=gpus.device_ids,
        capabilities=[list(gpus.capabilities)],
    )]


def _parse_time(value: str | None) -> datetime | None:
    if not value or value.startswith("0001-01-01"):
        return None
    # Docker gives nanoseconds; Python wants at most microseconds
    head, _, frac = value.rstrip("Z").partition(".")
    frac = (frac + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{frac}+00:00")


@contextmanager
def _engine_errors(action: str):
    """The one table translating docker-py errors met while doing ``action``."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise NotFoundError(
            f"{action}: image not found ({exc.explanation})",
            hint="build it with `benchfarm image build NAME` or pull it from the farm registry",
        ) from exc
    except docker.errors.NotFound as exc:
        raise NotFoundError(f"{action}: {exc.explanation}") from exc
    except docker.errors.APIError as exc:
        raise BenchmarkFailedError(f"{action}: the Docker engine refused: {exc.explanation}") from exc
    except (docker.errors.DockerException, OSError, urllib3.exceptions.HTTPError, http.client.HTTPException) as exc:
        # urllib3/http.client errors: a streamed response (events) cut off when dockerd stops
        raise ServiceUnavailableError(f"{action}: the Docker engine is not answering ({exc})",
                                      hint="check `benchfarm stack status`") from exc


def _converted(stream: Iterator[dict[str, Any]], action: str) -> Iterator[dict[str, Any]]:
    """``stream`` with the errors met while iterating it translated by :func:`_engine_errors`."""
    with _engine_errors(action):
        yield from stream


class ContainerEngine(DockerEngine):
    """Creates, runs and inspects benchmark containers."""

    def resolve_image(self, ref: str) -> ImageInfo:
        """The image behind a tag or digest on this engine; NotFoundError if absent.

        A registry reference pinned by digest (``host:port/name@sha256:...``) that
        is not on this engine yet is pulled from the farm registry first.
        """
        if "@sha256:" in ref and "/" in ref.split("@", maxsplit=1)[0]:
            try:
                self.client.images.get(ref)
            except docker.errors.ImageNotFound:
                with _engine_errors(f"pulling image {ref}"):
                    self.client.images.pull(ref)
        with _engine_errors(f"resolving image {ref}"):
            return ImageInfo.from_attrs(self.client.api.inspect_image(ref))

    def has_image(self, ref: str) -> bool:
        """True when the image (an id or a reference) is on this engine."""
        try:
            with _engine_errors(f"inspecting image {ref}"):
                self.client.api.inspect_image(ref)
        except NotFoundError:
            return False
        return True

    def pull_image(self, ref: str) -> str:
        """Pull ``<registry>/<name>@sha256:...`` (or ``name:tag``); returns the local image id.

        Raises:
            RegistryError: the engine reported an error, or the image is not there afterwards.
        """
        repo, sep, digest = ref.partition("@")
        try:
            with _engine_errors(f"pulling image {ref}"):
                stream = (self.client.api.pull(repo, tag=digest, stream=True, decode=True) if sep
                          else self.client.api.pull(ref, stream=True, decode=True))
                for chunk in stream:
                    if "error" in chunk:
                        raise RegistryError(f"pull of {ref} failed: {chunk['error']}",
                                            hint="is the farm registry up and reachable from this host?")
                return str(self.client.api.inspect_image(ref)["Id"])
        except (NotFoundError, BenchmarkFailedError, ServiceUnavailableError) as exc:
            raise RegistryError(f"pull of {ref} failed: {exc.message}",
                                hint="is the farm registry up and reachable from this host?") from exc

    def create(self, cs: ContainerSpec) -> str:
        """Create (not start) the container; returns its id."""
        kwargs: dict[str, Any] = {
            "image": cs.image,
            "command": cs.command,
            "name": cs.name,
            "environment": cs.env,
            "labels": cs.labels,
            "network_mode": cs.network_mode,
            "read_only": cs.read_only,
            "tmpfs": cs.tmpfs,
            "security_opt": cs.security_opt,
            "cap_drop": ["ALL"],
            "cap_add": cs.cap_add or None,
            "pids_limit": cs.pids_limit,  # a fork bomb stops at its own cgroup
            "detach": True,
        }
        if not cs.name:
            del kwargs["name"]
        if cs.cpuset:
            kwargs["cpuset_cpus"] = cs.cpuset
        if cs.nano_cpus:
            kwargs["nano_cpus"] = cs.nano_cpus
        if cs.mem_limit:
            kwargs["mem_limit"] = cs.mem_limit
            kwargs["memswap_limit"] = cs.mem_limit  # no swap: a memory-bound benchmark must not page
        if cs.results_dir is not None:
            kwargs["volumes"] = {str(cs.results_dir): {"bind": RESULTS_MOUNT, "mode": "rw"}}
        if cs.devices:
            kwargs["devices"] = [d.as_docker() for d in cs.devices]
        if cs.gpus is not None:
            kwargs["device_requests"] = device_requests(cs.gpus)
        with _engine_errors(f"creating container {cs.name or 'of ' + cs.image}"):
            return self.client.containers.create(**kwargs).id

    def start(self, container_id: str) -> None:
        with _engine_errors(f"starting container {container_id[:12]}"):
            self.client.api.start(container_id)

    def wait(self, container_id: str, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds; the exit code, or None if still running."""
        try:
            return int(self.client.api.wait(container_id, timeout=timeout)["StatusCode"])
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
            if "timed out" in str(exc).lower():
                return None
            raise ServiceUnavailableError(f"waiting for container {container_id[:12]}: the engine went away ({exc})",
                                          hint="check `benchfarm stack status`") from exc
        except docker.errors.NotFound as exc:
            raise NotFoundError(f"container {container_id[:12]} disappeared while running") from exc

    def state(self, container_id: str) -> ContainerState:
        with _engine_errors(f"inspecting container {container_id[:12]}"):
            attrs = self.client.api.inspect_container(container_id)
        st = attrs["State"]
        return ContainerState(
            id=attrs["Id"],
            status=st.get("Status", ""),
            exit_code=st.get("ExitCode") if st.get("Status") in ("exited", "dead") else None,
            oom_killed=bool(st.get("OOMKilled")),
            started_at=_parse_time(st.get("StartedAt")),
            finished_at=_parse_time(st.get("FinishedAt")),
            error=st.get("Error", ""),
        )

    def pid(self, container_id: str) -> int | None:
        """The container's init process (``State.Pid``) in the engine's PID namespace; None when it is not running.

        Raises:
            NotFoundError: no such container.
        """
        with _engine_errors(f"inspecting container {container_id[:12]}"):
            pid = self.client.api.inspect_container(container_id)["State"].get("Pid")
        return int(pid) if pid else None

    def inspect(self, container_id: str) -> dict[str, Any]:
        """The engine's whole ``docker inspect`` document of a container (``Config``, ``State``, ...).

        Raises:
            NotFoundError: no such container.
        """
        with _engine_errors(f"inspecting container {container_id[:12]}"):
            return dict(self.client.api.inspect_container(container_id))

    def events(self, *, filters: dict[str, Any] | None = None, since: int | None = None) -> Iterator[dict[str, Any]]:
        """The engine's event stream (``docker events``), decoded, from ``since`` (epoch seconds) on.

        Subscribes now (events after this call are kept for the iterator); iterating
        blocks between events and ends when the engine closes the stream cleanly.

        Raises:
            ServiceUnavailableError: the engine cannot be reached, or (while iterating) the
                stream broke because dockerd stopped or restarted: call again to reconnect.
        """
        with _engine_errors("subscribing to the engine's events"):
            stream = self.client.api.events(since=since, filters=filters, decode=True)
        return _converted(stream, "streaming the engine's events")

    def kill(self, container_id: str) -> None:
        """Kill a running container; a container already stopped is fine."""
        try:
            with _engine_errors(f"killing container {container_id[:12]}"):
                self.client.api.kill(container_id)
        except Exception as exc:  # "is not running" conflicts are expected here
            if "is not running" not in str(exc) and "No such container" not in str(exc):
                raise

    def stop(self, container_id: str, timeout: int = 10) -> None:
        """Stop a container: SIGTERM, then SIGKILL after ``timeout`` seconds (a stopped one stays stopped).

        Raises:
            NotFoundError: no such container.
        """
        with _engine_errors(f"stopping container {container_id[:12]}"):
            self.client.api.stop(container_id, timeout=timeout)

    def output(self, container_id: str) -> tuple[bytes, bytes]:
        """All of the container's output so far: (stdout and stderr interleaved, stdout alone)."""
        with _engine_errors(f"reading the output of {container_id[:12]}"):
            both = self.client.api.logs(container_id, stdout=True, stderr=True)
            out = self.client.api.logs(container_id, stdout=True, stderr=False)
        return both, out

    def remove(self, container_id: str) -> None:
        try:
            with _engine_errors(f"removing container {container_id[:12]}"):
                self.client.api.remove_container(container_id, force=True)
        except NotFoundError:
            pass

    def containers_with_label(self, key: str, value: str | None = None, *, all_states: bool = True) -> list[dict]:
        """Summaries (id, name, state, labels) of containers carrying a label."""
        flt = f"{key}={value}" if value is not None else key
        with _engine_errors("listing containers"):
            raw = self.client.api.containers(all=all_states, filters={"label": flt})
        return [{"id": c["Id"], "names": c.get("Names", []), "state": c.get("State"), "labels": c.get("Labels", {})}
                for c in raw]
