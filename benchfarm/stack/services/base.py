"""The common life cycle of a stack service: check, install, configure, start, wait, stop."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchfarm.errors import SetupError
from benchfarm.settings import Settings
from benchfarm.stack.ports import describe_owner, port_open
from benchfarm.stack.process import ManagedProcess

Progress = Callable[[str], None]


@dataclass
class ServiceStatus:
    """One line of `benchfarm stack status`."""

    name: str
    address: str
    pid: int | None
    managed_by: str  # "stack" (we started it), "external" (found running), "-" (not running)
    healthy: bool
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def http_health(url: str) -> tuple[bool, str]:
    """(healthy, detail) of a service whose health is an HTTP 200 at ``url``."""
    import httpx

    try:
        resp = httpx.get(url, timeout=3)
    except httpx.HTTPError as exc:
        return False, f"no answer ({type(exc).__name__})"
    return resp.status_code == 200, "" if resp.status_code == 200 else f"{url} answered {resp.status_code}"


class Service(ABC):
    """A real service the stack installs and runs as a background process."""

    name: str
    ready_timeout: float = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process = ManagedProcess(self.name, settings.run_dir, settings.log_dir)

    # what each service defines ------------------------------------------------
    @abstractmethod
    def address(self) -> str:
        """Where clients reach it (URL, host:port or socket)."""

    @abstractmethod
    def healthy(self) -> tuple[bool, str]:
        """(healthy, detail), quickly; never raises."""

    @abstractmethod
    def ensure_installed(self, progress: Progress) -> None:
        """Install what the service needs, once."""

    @abstractmethod
    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        """(argv, extra env, user to run as) — after configure()."""

    def configure(self, progress: Progress) -> None:
        """Render config files and create data dirs (idempotent)."""
        # An optional hook, not abstract: a service with no config files or data dirs (the worker) needs none.
        return None

    def ports(self) -> list[tuple[str, int]]:
        """TCP ports it will listen on, checked to be free before start."""
        return []

    def external_pid(self) -> int | None:
        """The pid of a copy of this service not started by us, if it can be found."""
        return None

    # the shared life cycle ------------------------------------------------------
    def status(self) -> ServiceStatus:
        ok, detail = self.healthy()
        pid = self.process.pid
        if pid is not None:
            managed = "stack"
        else:
            pid = self.external_pid() if ok else None
            managed = "external" if ok else "-"
        if not ok and pid is None and not detail:
            detail = "not running"
        return ServiceStatus(self.name, self.address(), pid, managed, ok, detail)

    def _lock(self):
        """An exclusive lock per service, so concurrent `stack up`/`down` calls never race a start."""
        import fcntl
        from contextlib import contextmanager

        @contextmanager
        def held():
            self.settings.run_dir.mkdir(parents=True, exist_ok=True)
            with open(self.settings.run_dir / f"{self.name}.lock", "a") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)

        return held()

    @property
    def stopped_marker(self) -> Path:
        """Left by :meth:`down` so the supervisor (``benchfarm.stack.supervisor``) keeps the service stopped."""
        return self.settings.run_dir / f"{self.name}.stopped"

    def up(self, progress: Progress) -> str:
        """Start the service unless it already runs; returns what happened, in words."""
        with self._lock():
            self.stopped_marker.unlink(missing_ok=True)
            return self._up(progress)

    def _up(self, progress: Progress) -> str:
        ok, _ = self.healthy()
        if ok:
            return "already running" if self.process.pid else "already running (not started by benchfarm; left alone)"
        if self.process.pid is None:
            for host, port in self.ports():
                if port_open(host, port):
                    raise SetupError(
                        f"{self.name}: port {port} on {host} is already taken by {describe_owner(port, host)}",
                        hint=f"stop that process, or choose another port for {self.name} in the benchfarm settings "
                        f"(BENCHFARM_* environment variables or /etc/benchfarm/config.yaml)",
                    )
            self.ensure_installed(progress)
            self.configure(progress)
            argv, env, user = self.command()
            progress(f"starting {self.name}")
            self.process.start(argv, env=env, user=user)
        self.wait_ready(progress)
        return "started"

    def wait_ready(self, progress: Progress) -> None:
        """Poll health until ready; raise SetupError with the log's tail if it dies or times out."""
        deadline = time.monotonic() + self.ready_timeout
        last_note = time.monotonic()
        while True:
            ok, detail = self.healthy()
            if ok:
                return
            if self.process.exited_early():
                raise SetupError(
                    f"{self.name} exited during start-up; last lines of {self.process.log_file}:\n"
                    f"{self.process.log_tail(15)}",
                    hint=f"see `benchfarm stack logs {self.name}`",
                )
            if time.monotonic() > deadline:
                raise SetupError(
                    f"{self.name} did not become ready within {self.ready_timeout:.0f}s ({detail}); "
                    f"last lines of its log:\n{self.process.log_tail(15)}",
                    hint=f"see `benchfarm stack logs {self.name}`",
                )
            if time.monotonic() - last_note > 10:
                progress(f"waiting for {self.name} ({detail})")
                last_note = time.monotonic()
            time.sleep(0.3)

    def down(self) -> bool:
        """Stop the service if the stack started it; returns True when something was stopped."""
        with self._lock():
            if self.process.pid is not None:
                self.stopped_marker.parent.mkdir(parents=True, exist_ok=True)
                self.stopped_marker.touch()
            return self.process.stop()
