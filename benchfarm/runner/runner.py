"""Runs one benchmark repetition in a container: create, start, watch, time out, cancel, collect."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.jobs.model import MAX_LOG_BYTES
from benchfarm.runner.container_spec import ContainerSpec
from benchfarm.runner.engine import ContainerStatus, Engine
from benchfarm.spec.fields import RESULTS_MOUNT

__all__ = ["RESULTS_LIMIT_BYTES", "ContainerRunner", "Engine", "ResultFiles", "RunOutcome", "read_result_files"]

RESULTS_LIMIT_BYTES = 16 * 1024 * 1024  # all of one repetition's results files together
SIGKILL_EXIT_CODE = 137  # 128 + 9: what an OOM kill (and any other SIGKILL) leaves
OOM_SETTLE_S = 2.0  # how long an unexplained SIGKILL waits for the engine's late OOM flag
OOM_SETTLE_POLL_S = 0.1


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
    result_files_cut: list[str] = field(default_factory=list)  # paths cut short (or left empty) at the cap
    # seconds of each step of the run on this host's clock: prepare, create, start, collectors_start, run (start
    # to the exit seen), inspect, logs, results, remove (filled in as the container goes); what a no-op job costs
    # beyond `docker run --rm` is read from these (bench/e2e_overhead.py)
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class ResultFiles:
    """What :func:`read_result_files` read: the files' bytes, and which were cut at the cap."""

    files: dict[str, bytes] = field(default_factory=dict)  # by path inside the container (``/results/...``)
    cut: list[str] = field(default_factory=list)  # paths whose end (or all) is missing because of the cap
    limit_bytes: int = RESULTS_LIMIT_BYTES


def read_result_files(results_dir: Path, limit_bytes: int = RESULTS_LIMIT_BYTES) -> ResultFiles:
    """Files the benchmark wrote under /results, keyed by their path inside the container.

    The cap applies while reading: each file is read no further than what is left of
    ``limit_bytes`` over all files (in path order), so a benchmark writing gigabytes
    costs the worker at most the cap in memory. A file with more than that is kept cut
    short (a file past the cap, empty) and its path listed in ``cut``. Only regular files
    are read: a symbolic link, a FIFO or a device the benchmark left there is skipped,
    checked on the open file itself (``O_NOFOLLOW``, ``fstat``), not on its name.
    """
    out = ResultFiles(limit_bytes=limit_bytes)
    if not results_dir.is_dir():
        return out
    left = limit_bytes
    for path in sorted(results_dir.rglob("*")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # a symbolic link (ELOOP), gone meanwhile, unreadable
            continue
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory, a FIFO, a device
            os.close(fd)
            continue
        with os.fdopen(fd, "rb") as f:
            data = f.read(left)
            more = bool(f.read(1))
        left -= len(data)
        name = f"{RESULTS_MOUNT}/{path.relative_to(results_dir)}"
        out.files[name] = data
        if more:
            out.cut.append(name)
    return out


class ContainerRunner:
    """Runs containers for repetitions and reports what happened, never leaving one behind.

    Args:
        engine: the container engine.
        poll_s: how long one wait on the container lasts before the runner checks
            the timeout, a cancel request and calls ``on_poll``.
        clock: where the timeout's deadline and ``created_at`` are read (default: the system clock).
        results_limit_bytes: the most bytes of results files read per run (see :func:`read_result_files`).
    """

    def __init__(self, engine: Engine, poll_s: float = 0.5, clock: Clock = SYSTEM_CLOCK,
                 results_limit_bytes: int = RESULTS_LIMIT_BYTES) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self.clock = clock
        self.results_limit_bytes = results_limit_bytes
        self._seen: dict[str, tuple[int, int]] = {}  # output already attributed, per reused container

    def _settle_oom_flag(self, cid: str, state: ContainerStatus) -> ContainerStatus:
        """Inspect again for up to ``OOM_SETTLE_S`` until the engine's OOM flag shows, or give up.

        Docker learns of an OOM kill from a containerd event that may arrive after the
        exit it caused, and sets ``OOMKilled`` on the stopped container only then; an
        inspect right after the wait can see exit code 137 and ``OOMKilled: false``
        for a container the kernel did kill for memory.  Only a SIGKILL that the farm
        did not send (no timeout, no cancel) gets here, so a normal run never waits.
        """
        deadline = self.clock.monotonic() + OOM_SETTLE_S
        while not state.oom_killed and self.clock.monotonic() < deadline:
            self.clock.sleep(OOM_SETTLE_POLL_S)
            state = self.engine.state(cid)
        return state

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
        phases: dict[str, float] = {}
        mark = self.clock.monotonic()

        def lap(name: str) -> None:
            nonlocal mark
            at = self.clock.monotonic()
            phases[name] = round(at - mark, 6)
            mark = at

        if cs.results_dir is not None:
            cs.results_dir.mkdir(parents=True, exist_ok=True)
            cs.results_dir.chmod(0o777)  # the benchmark may run as any user inside
            for old in cs.results_dir.iterdir():  # a reused results dir starts empty each run
                if old.is_file():
                    old.unlink()
        created_at = self.clock.utcnow()
        lap("prepare")
        cid = reuse or self.engine.create(cs)
        lap("create")
        seen_all, seen_out = self._seen.get(cid, (0, 0))
        timed_out = cancelled = False
        finished = False
        try:
            self.engine.start(cid)
            lap("start")
            if on_started:
                on_started(cid)
            lap("collectors_start")
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
            if exit_code is None:  # killed (timeout, cancel): wait for it to be gone
                self.engine.wait(cid, timeout=30)
            lap("run")
            state = self.engine.state(cid)
            if exit_code == SIGKILL_EXIT_CODE and not state.oom_killed:
                state = self._settle_oom_flag(cid, state)
            lap("inspect")
            all_out, std_out = self.engine.output(cid)
            lap("logs")
            self._seen[cid] = (len(all_out), len(std_out))
            new_logs = all_out[seen_all:]
            truncated = len(new_logs) > MAX_LOG_BYTES
            logs = new_logs[-MAX_LOG_BYTES:].decode(errors="replace")
            stdout = std_out[seen_out:].decode(errors="replace")
            results = (read_result_files(cs.results_dir, self.results_limit_bytes) if cs.results_dir is not None
                       else ResultFiles())
            lap("results")
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
                result_files=results.files,
                result_files_cut=results.cut,
                phases=phases,
            )
        finally:
            if not keep_container or (not finished and reuse is None):
                self.engine.remove(cid)
                self._seen.pop(cid, None)
                lap("remove")
