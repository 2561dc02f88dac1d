"""The container engine as the runner, executor and reaper see it.

The real implementation is :class:`benchfarm.adapters.docker_engine.ContainerEngine`
(the only place that imports ``docker``); unit tests use
``tests.support.fake_engine.FakeEngine``.  Both satisfy :class:`Engine`
structurally, so the domain code never imports the adapter and a fake cannot
drift from the calls the farm really makes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from benchfarm.runner.container_spec import ContainerSpec


class ContainerStatus(Protocol):
    """What the engine reports about a container (``ContainerEngine.state`` returns a ``ContainerState``)."""

    @property
    def exit_code(self) -> int | None: ...
    @property
    def oom_killed(self) -> bool: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def finished_at(self) -> datetime | None: ...


class Engine(Protocol):
    """The engine calls the farm makes to run and clean up benchmark containers."""

    def create(self, cs: ContainerSpec) -> str:
        """Create (not start) a container; returns its id."""
        ...

    def start(self, container_id: str) -> None: ...

    def wait(self, container_id: str, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds; the exit code, or None while it still runs."""
        ...

    def state(self, container_id: str) -> ContainerStatus: ...

    def pid(self, container_id: str) -> int | None:
        """The container's init process as the engine's host numbers it; None when it is not running.

        The telemetry finds the container's cgroup through ``/proc/<pid>/cgroup``.
        """
        ...

    def kill(self, container_id: str) -> None:
        """Kill a running container; one already stopped is fine."""
        ...

    def output(self, container_id: str) -> tuple[bytes, bytes]:
        """All output so far: (stdout and stderr interleaved, stdout alone)."""
        ...

    def remove(self, container_id: str) -> None:
        """Force-remove a container; one already gone is fine."""
        ...

    def has_image(self, ref: str) -> bool:
        """True when the image (an id ``sha256:...`` or a reference) is on this engine."""
        ...

    def pull_image(self, ref: str) -> str:
        """Pull ``<registry>/<name>@sha256:...`` from the farm registry; returns the local image id.

        Raises RegistryError when the pull fails.
        """
        ...

    def containers_with_label(self, key: str, value: str | None = None, *,
                              all_states: bool = True) -> list[dict[str, Any]]:
        """Summaries (``id``, ``names``, ``state``, ``labels``) of the containers carrying a label."""
        ...
