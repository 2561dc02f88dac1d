"""Runs one benchmark repetition in a container: create, start, watch, time out, cancel, collect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.jobs.model import MAX_LOG_BYTES
from benchfarm.runner.container_spec import ContainerSpec
from benchfarm.runner.engine import Engine
from benchfarm.spec.fields import RESULTS_MOUNT

__all__ = ["ContainerRunner", "Engine", "RunOutcome", "read_result_files"]


@dataclass
class RunOutcome:
    """What happened to one container."""

    container_id: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    oom_killed: bool
    timed_out: bool
    cancelled: bool
    logs: str
    logs_truncated: bool
    stdout: str
    result_files: dict[str, bytes]


def read_result_files(results_dir: Path, limit_bytes: int = 16 * 1024 * 1024) -> dict[str, bytes]:
    """Files the benchmark wrote under /results, keyed by their path inside the container."""
    files: dict[str, bytes] = {}
    if not results_dir.is_dir():
        return files
    total = 0
    for path in sorted(results_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()[: max(0, limit_bytes - total)]
            total += len(data)
            files[f"{RESULTS_MOUNT}/{path.relative_to(results_dir)}"] = data
    return files


class ContainerRunner:
    """Runs containers for repetitions and reports what happened, never leaving one behind.

    Args:
        engine: the container engine.
        poll_s: how long one wait on the container lasts before the runner checks
            the timeout, a cancel request and calls ``on_poll``.
        clock: where the timeout's deadline and ``created_at`` are read (default: the system clock).
    """

    def __init__(self, engine: Engine, poll_s: float = 0.5, clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self.clock = clock
        self._seen: dict[str, tuple[int, int]] = {}  # output already attributed, per reused container

    def run(
        self,
        cs: ContainerSpec,
        *,
        timeout_s: float,
        should_cancel: Callable[[], bool] = lambda: False,
        on_started: Callable[[str], None] | None = None,
        on_poll: Callable[[], None] | None = None,
        keep_container: bool = False,
        reuse: str | None = None,
    ) -> RunOutcome:
        """Run ``cs`` to completion, the timeout, or a cancel request; the container is removed after.

        ``on_started(container_id)`` is where the sampler attaches; ``on_poll`` runs
        about every ``poll_s`` while it runs (lease renewal). ``reuse`` starts an
        existing container again instead of creating one (jobs that opt out of a
        fresh container per repetition); its output is then only what this run added.
        """
        if cs.results_dir is not None:
            cs.results_dir.mkdir(parents=True, exist_ok=True)
            cs.results_dir.chmod(0o777)  # the benchmark may run as any user inside
            for old in cs.results_dir.iterdir():  # a reused results dir starts empty each run
                if old.is_file():
                    old.unlink()
        created_at = self.clock.utcnow()
        cid = reuse or self.engine.create(cs)
        seen_all, seen_out = self._seen.get(cid, (0, 0))
        timed_out = cancelled = False
        finished = False
        try:
            self.engine.start(cid)
            if on_started:
                on_started(cid)
            deadline = self.clock.monotonic() + timeout_s
            exit_code: int | None = None
            while exit_code is None:
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    timed_out = True
                    self.engine.kill(cid)
                    break
                if should_cancel():
                    cancelled = True
                    self.engine.kill(cid)
                    break
                exit_code = self.engine.wait(cid, timeout=min(self.poll_s, remaining))
                if on_poll:
                    on_poll()
            self.engine.wait(cid, timeout=30)
            state = self.engine.state(cid)
            all_out, std_out = self.engine.output(cid)
            self._seen[cid] = (len(all_out), len(std_out))
            new_logs = all_out[seen_all:]
            truncated = len(new_logs) > MAX_LOG_BYTES
            logs = new_logs[-MAX_LOG_BYTES:].decode(errors="replace")
            stdout = std_out[seen_out:].decode(errors="replace")
            files = read_result_files(cs.results_dir) if cs.results_dir is not None else {}
            finished = True
            return RunOutcome(
                container_id=cid,
                created_at=created_at,
                started_at=state.started_at,
                finished_at=state.finished_at,
                exit_code=state.exit_code,
                oom_killed=state.oom_killed,
                timed_out=timed_out,
                cancelled=cancelled,
                logs=logs,
                logs_truncated=truncated,
                stdout=stdout,
                result_files=files,
            )
        finally:
            if not keep_container or (not finished and reuse is None):
                self.engine.remove(cid)
                self._seen.pop(cid, None)
