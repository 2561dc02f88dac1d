"""The stack's supervisor as a service: `stack up` starts it last, `stack down` stops it first."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchfarm.stack.services.base import Progress, Service
from benchfarm.stack.supervisor import RestartLimit, Supervised, Supervisor, read_state

log = logging.getLogger("benchfarm.stack.supervisor")

#: The supervisor rewrites its state file at least this often while it runs (its liveness).
HEARTBEAT_S = 1.0


class SupervisorService(Service):
    """``benchfarm stack supervise``: restarts the stack's services that die (see ``benchfarm.stack.supervisor``)."""

    name = "supervisor"
    ready_timeout = 20.0

    @property
    def state_file(self) -> Path:
        return self.settings.run_dir / "supervisor.state.json"

    def address(self) -> str:
        return f"watching the stack's services ({self.state_file})"

    def ensure_installed(self, progress: Progress) -> None:
        pass

    def healthy(self) -> tuple[bool, str]:
        if self.process.pid is None:
            return False, "not running"
        try:
            age = time.time() - self.state_file.stat().st_mtime
        except FileNotFoundError:
            return False, "no state file yet"
        state = read_state(self.state_file)
        detail = state.summary() if state else "state unreadable"
        if state and state.gave_up:
            return False, detail
        return (True, detail) if age < 30 * HEARTBEAT_S else (False, f"silent for {age:.0f} s")

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        return [sys.executable, "-m", "benchfarm.cli.main", "stack", "supervise"], {}, None

    def down(self) -> bool:
        """Stop the supervisor alone: the services it restarted are its children, and they stay up."""
        with self._lock():
            if self.process.pid is not None:
                self.stopped_marker.touch()
            return self.process.stop(timeout=10, descendants=False)


class WatchedService:
    """A stack service as the supervisor sees it (``benchfarm.stack.supervisor.Supervised``)."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.name = svc.name
        self.last_pid: int | None = None

    def running(self) -> bool:
        pid = self.svc.process.pid
        if pid is not None:
            self.last_pid = pid
        return pid is not None

    def stopped_on_purpose(self) -> bool:
        return self.svc.stopped_marker.exists()

    def restart(self) -> None:
        """Clear what the dead process left (orphans holding its ports), then start it as `stack up` does."""
        if self.last_pid is not None:
            killed = self.svc.process.kill_leftovers(self.last_pid)
            if killed:
                log.info("%s: killed %d leftover process(es) of pid %d", self.name, killed, self.last_pid)
        self.svc.up(lambda line: log.info("%s: %s", self.name, line))


def run_supervisor(services: list[Service], limit: RestartLimit, should_stop: Callable[[], bool],
                   interval_s: float = 1.0) -> None:
    """Supervise every other one of the stack's ``services`` until ``should_stop()``."""
    me = next(svc for svc in services if isinstance(svc, SupervisorService))
    watched: list[Supervised] = [WatchedService(svc) for svc in services if svc is not me]
    Supervisor(watched, limit=limit, state_file=me.state_file).run(should_stop, interval_s)
