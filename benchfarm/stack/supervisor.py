"""Bringing the stack's services back when they die, within restart limits.

Why a process of our own: the one-host farm runs where systemd may not be PID 1 (this
machine, CI containers), and a `kill -9` of the API or Redis used to leave it down until
someone ran `stack up`. On hosts the Salt states install systemd units with the same policy
(``Restart=always``, a start limit); here `stack up` starts ``benchfarm stack supervise``
last, and it does what systemd would:

- it watches only services it has seen running under the stack (their pid file), so a service
  someone else runs, or one switched off, is never started behind their back;
- a service stopped on purpose (`stack down [--only NAME]` leaves a marker) stays stopped;
- a service that died is started again through the same ``up`` as `stack up` (its lock, its
  readiness check), at most ``burst`` times in ``window_s``; past that the supervisor gives up
  on it, says so in its state file (shown by `stack status`), and leaves it to an operator,
  like systemd's ``StartLimitBurst``/``StartLimitIntervalSec``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.errors import BenchfarmError

log = logging.getLogger(__name__)


class Supervised(Protocol):
    """One service as the supervisor sees it."""

    name: str

    def running(self) -> bool:
        """Whether the process the stack started for it is alive."""
        ...

    def stopped_on_purpose(self) -> bool:
        """Whether `stack down` stopped it (then it stays down)."""
        ...

    def restart(self) -> None:
        """Start it again and wait until it is ready; raises BenchfarmError when it does not come up."""
        ...


@dataclass(frozen=True)
class RestartLimit:
    """At most ``burst`` restarts of one service within ``window_s`` seconds."""

    burst: int = 5
    window_s: float = 600.0


@dataclass
class SupervisorState:
    """What the supervisor did, written to its state file for `stack status`."""

    restarts: dict[str, int] = field(default_factory=dict)
    gave_up: dict[str, str] = field(default_factory=dict)
    last: list[str] = field(default_factory=list)  # the latest decisions, newest last

    def summary(self) -> str:
        parts = [f"restarted {name} {n}x" for name, n in sorted(self.restarts.items())]
        parts += [f"GAVE UP on {name}: {why}" for name, why in sorted(self.gave_up.items())]
        return "; ".join(parts) or "nothing restarted"


class Supervisor:
    """Restarts dead services; :meth:`tick` is one look at all of them (the loop calls it every second)."""

    def __init__(self, services: Sequence[Supervised], *, limit: RestartLimit = RestartLimit(),
                 clock: Clock = SYSTEM_CLOCK, state_file: Path | None = None,
                 progress: Callable[[str], None] = log.info) -> None:
        self.services = list(services)
        self.limit = limit
        self.clock = clock
        self.state_file = state_file
        self.progress = progress
        self.state = SupervisorState()
        self._seen: set[str] = set()
        self._recent: dict[str, deque[float]] = {}

    def tick(self) -> list[str]:
        """Look at every service once; returns what was done, in words."""
        done: list[str] = []
        for svc in self.services:
            if svc.running():
                self._seen.add(svc.name)
                self.state.gave_up.pop(svc.name, None)  # someone brought it back
                continue
            if svc.name not in self._seen or svc.name in self.state.gave_up:
                continue
            if svc.stopped_on_purpose():
                self._seen.discard(svc.name)
                continue
            done.append(self._restart(svc))
        if done:
            self.state.last = (self.state.last + done)[-20:]
            self._save()
        return done

    def _restart(self, svc: Supervised) -> str:
        now = self.clock.monotonic()
        recent = self._recent.setdefault(svc.name, deque())
        while recent and now - recent[0] > self.limit.window_s:
            recent.popleft()
        if len(recent) >= self.limit.burst:
            why = f"died {len(recent) + 1} times within {self.limit.window_s:.0f} s"
            self.state.gave_up[svc.name] = why
            return self._say(f"{svc.name}: {why}; not restarting it again (see `benchfarm stack logs {svc.name}`, "
                             f"then `benchfarm stack up --only {svc.name}`)")
        recent.append(now)
        self.progress(f"{svc.name} is down: starting it again")
        try:
            svc.restart()
        except BenchfarmError as exc:
            return self._say(f"{svc.name}: restart failed: {exc.message}")
        self.state.restarts[svc.name] = self.state.restarts.get(svc.name, 0) + 1
        return self._say(f"{svc.name}: restarted")

    def _say(self, line: str) -> str:
        self.progress(line)
        return line

    def _save(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"restarts": self.state.restarts, "gave_up": self.state.gave_up,
                                   "last": self.state.last}))
        tmp.replace(self.state_file)

    def run(self, should_stop: Callable[[], bool], interval_s: float = 1.0) -> None:
        """Tick every ``interval_s`` until ``should_stop()``; a tick that fails is logged, never fatal.

        The state file is rewritten on every tick: its age is the supervisor's heartbeat.
        """
        while not should_stop():
            try:
                reap_children()
                self.tick()
                self._save()
            except Exception:  # the supervisor must outlive whatever one look at a service throws
                log.exception("supervisor tick failed")
            self.clock.sleep(interval_s)


def reap_children() -> None:
    """Collect the exit status of any child that ended: services the supervisor restarted are its children,
    and one that dies would otherwise stay a zombie (its pid file is already read as dead)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def read_state(state_file: Path) -> SupervisorState | None:
    """The supervisor's state file, or None when there is none (or it is torn)."""
    try:
        data = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    return SupervisorState(restarts=dict(data.get("restarts", {})), gave_up=dict(data.get("gave_up", {})),
                           last=list(data.get("last", [])))
