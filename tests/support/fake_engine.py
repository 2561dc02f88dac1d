"""A container engine in memory, for unit tests of the runner, executor and reaper (no Docker claimed).

It implements :class:`benchfarm.runner.engine.Engine`, the interface the real
``ContainerEngine`` adapter satisfies, and runs on a :class:`~benchfarm.clock.FakeClock`:
a container "runs" for its :attr:`Behaviour.runtime_s` of fake time, and
``wait`` moves the clock instead of sleeping, so a one-hour timeout takes
microseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchfarm.clock import FakeClock
from benchfarm.errors import BenchmarkFailedError, NotFoundError, RegistryError
from benchfarm.runner.container_spec import ContainerSpec
from benchfarm.spec.fields import RESULTS_MOUNT

KILLED_EXIT_CODE = 137  # what Docker reports for a SIGKILLed container
FAKE_PID_BASE = 4_000_000  # above most machines' pid_max, so no real /proc entry answers for a fake container


@dataclass
class Behaviour:
    """What a fake container does when it is started.

    ``files`` are written into the container's results directory, keyed by
    their path inside the container (``/results/out.json``). ``on_start`` runs
    once the container is running (e.g. a test requesting cancel meanwhile).
    """

    exit_code: int = 0
    runtime_s: float = 1.0
    stdout: bytes = b""
    stderr: bytes = b""
    oom_killed: bool = False
    oom_flag_late_s: float = 0.0  # Docker may set OOMKilled this long after the exit it caused
    files: dict[str, bytes] = field(default_factory=dict)
    on_start: Callable[[FakeContainer], None] | None = None


@dataclass
class FakeState:
    """Satisfies ``benchfarm.runner.engine.ContainerStatus`` like the adapter's ``ContainerState``."""

    id: str
    status: str
    exit_code: int | None
    oom_killed: bool
    started_at: datetime | None
    finished_at: datetime | None
    error: str = ""


@dataclass
class FakeContainer:
    id: str
    spec: ContainerSpec
    status: str = "created"  # created -> running -> exited
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    ends_at: float | None = None  # monotonic time the current run exits by itself
    oom_flag_at: float | None = None  # monotonic time of the exit an OOM kill caused
    behaviour: Behaviour | None = None
    logs: bytearray = field(default_factory=bytearray)
    stdout: bytearray = field(default_factory=bytearray)
    starts: int = 0


class FakeEngine:
    """Containers in a dict, run on a fake clock.

    Args:
        clock: the fake clock ``wait`` moves.
        behaviours: what each start does: one :class:`Behaviour` for every start, a sequence
            (the n-th start takes the n-th; the last one repeats), or a function of the start's
            number (0-based, over all containers) and the container. Default: exit 0 after 1 s.
    """

    def __init__(self, clock: FakeClock,
                 behaviours: Behaviour | Sequence[Behaviour] | Callable[[int, FakeContainer], Behaviour] | None = None,
                 ) -> None:
        self.clock = clock
        self.behaviours = Behaviour() if behaviours is None else behaviours
        self.containers: dict[str, FakeContainer] = {}
        self.created: list[str] = []
        self.removed: list[str] = []
        self.killed: list[str] = []
        self.fail: dict[str, Exception] = {}  # method name -> the error it raises (engine faults)
        self.missing_images: set[str] = set()  # images this engine does not have (every other one it has)
        self.registry: dict[str, str] = {}  # pull reference -> the image id pulling it gives
        self.pulled: list[str] = []
        self._starts = 0

    # the Engine interface --------------------------------------------------------------
    def create(self, cs: ContainerSpec) -> str:
        self._maybe_fail("create")
        if cs.name and any(c.spec.name == cs.name for c in self.containers.values()):
            raise BenchmarkFailedError(f"creating container {cs.name}: the Docker engine refused: name in use")
        cid = f"fake{len(self.created):04d}"
        self.containers[cid] = FakeContainer(id=cid, spec=cs)
        self.created.append(cid)
        return cid

    def start(self, container_id: str) -> None:
        self._maybe_fail("start")
        c = self._get(container_id)
        b = self._next_behaviour(c)
        c.behaviour = b
        c.status = "running"
        c.exit_code = None
        c.oom_killed = False
        c.finished_at = None
        c.started_at = self.clock.utcnow()
        c.ends_at = self.clock.monotonic() + b.runtime_s
        c.starts += 1
        c.logs += b.stdout + b.stderr
        c.stdout += b.stdout
        if b.files and c.spec.results_dir is not None:
            for path, data in b.files.items():
                target = c.spec.results_dir / path.removeprefix(RESULTS_MOUNT + "/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        if b.on_start is not None:
            b.on_start(c)

    def wait(self, container_id: str, timeout: float) -> int | None:
        self._maybe_fail("wait")
        c = self._get(container_id)
        if c.status != "running" or c.ends_at is None or c.behaviour is None:
            if c.status == "exited":
                return c.exit_code
            self.clock.advance(timeout)
            return None
        remaining = c.ends_at - self.clock.monotonic()
        if remaining > timeout:
            self.clock.advance(timeout)
            return None
        self.clock.advance(max(0.0, remaining))
        self._exit(c, c.behaviour.exit_code, oom_killed=c.behaviour.oom_killed)
        return c.exit_code

    def state(self, container_id: str) -> FakeState:
        self._maybe_fail("state")
        c = self._get(container_id)
        late = c.behaviour.oom_flag_late_s if c.behaviour else 0.0
        oom_shown = c.oom_killed and (c.oom_flag_at is None or self.clock.monotonic() >= c.oom_flag_at + late)
        return FakeState(id=c.id, status=c.status, exit_code=c.exit_code, oom_killed=oom_shown,
                         started_at=c.started_at, finished_at=c.finished_at)

    def pid(self, container_id: str) -> int | None:
        """A made-up pid while the container runs (no /proc entry: telemetry then falls back to its search)."""
        self._maybe_fail("pid")
        c = self._get(container_id)
        return FAKE_PID_BASE + self.created.index(container_id) if c.status == "running" else None

    def kill(self, container_id: str) -> None:
        self._maybe_fail("kill")
        c = self._get(container_id)
        if c.status == "running":
            self.killed.append(container_id)
            self._exit(c, KILLED_EXIT_CODE, oom_killed=False)

    def output(self, container_id: str) -> tuple[bytes, bytes]:
        self._maybe_fail("output")
        c = self._get(container_id)
        return bytes(c.logs), bytes(c.stdout)

    def remove(self, container_id: str) -> None:
        self._maybe_fail("remove")
        if self.containers.pop(container_id, None) is not None:
            self.removed.append(container_id)

    def has_image(self, ref: str) -> bool:
        self._maybe_fail("has_image")
        return ref not in self.missing_images

    def pull_image(self, ref: str) -> str:
        self._maybe_fail("pull_image")
        self.pulled.append(ref)
        if ref not in self.registry:
            raise RegistryError(f"pull of {ref} failed: manifest unknown")
        self.missing_images.discard(self.registry[ref])
        return self.registry[ref]

    def containers_with_label(self, key: str, value: str | None = None, *,
                              all_states: bool = True) -> list[dict[str, Any]]:
        return [{"id": c.id, "names": [f"/{c.spec.name}"], "state": c.status, "labels": dict(c.spec.labels)}
                for c in self.containers.values()
                if key in c.spec.labels and (value is None or c.spec.labels[key] == value)
                and (all_states or c.status == "running")]

    # helpers -----------------------------------------------------------------------------
    def add_running(self, cs: ContainerSpec, behaviour: Behaviour | None = None) -> str:
        """A container already running (left behind by a worker that died), without consuming a behaviour."""
        cid = self.create(cs)
        c = self.containers[cid]
        b = behaviour or Behaviour(runtime_s=3600)
        c.behaviour, c.status, c.started_at = b, "running", self.clock.utcnow()
        c.ends_at = self.clock.monotonic() + b.runtime_s
        return cid

    def _exit(self, c: FakeContainer, code: int, *, oom_killed: bool) -> None:
        c.status = "exited"
        c.exit_code = code
        c.oom_killed = oom_killed
        c.oom_flag_at = self.clock.monotonic()
        c.finished_at = self.clock.utcnow()
        c.ends_at = None

    def _next_behaviour(self, c: FakeContainer) -> Behaviour:
        n = self._starts
        self._starts += 1
        b = self.behaviours
        if isinstance(b, Behaviour):
            return b
        if callable(b):
            return b(n, c)
        return b[min(n, len(b) - 1)]

    def _get(self, container_id: str) -> FakeContainer:
        try:
            return self.containers[container_id]
        except KeyError:
            raise NotFoundError(f"no container {container_id}") from None

    def _maybe_fail(self, method: str) -> None:
        exc = self.fail.get(method)
        if exc is not None:
            raise exc
