"""The host lock: by default one benchmark at a time per host, so benchmarks don't disturb each other."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchfarm.clock import SYSTEM_CLOCK, Clock
from benchfarm.errors import HostBusyError


@contextmanager
def host_slot(lock_dir: Path, slots: int = 1, poll_s: float = 0.2, clock: Clock = SYSTEM_CLOCK, *,
              timeout_s: float | None = None, on_wait: Callable[[], None] | None = None) -> Iterator[int]:
    """Hold one of ``slots`` exclusive flock slots on this host; yields the slot number.

    With ``slots == 1`` (the default policy) benchmarks are serialised. Larger
    hosts may opt in to several slots, each job then pinned to its own cpuset.
    The kernel releases a flock when its holder dies, so a killed worker never
    leaves the host locked. While every slot is taken it retries every
    ``poll_s`` seconds of ``clock``, calling ``on_wait`` before each wait (the
    executor renews the job's lease there, so a job waiting for the host is not
    taken for a lost one; what ``on_wait`` raises ends the wait).

    Args:
        lock_dir: where the slots' lock files are.
        slots: how many benchmarks may run at once on this host.
        poll_s: how often a taken host is tried again.
        clock: where the wait is timed and slept.
        timeout_s: the longest wait for a slot (None: no limit).
        on_wait: called while every slot is taken.

    Raises:
        HostBusyError: no slot came free within ``timeout_s``; the message names the holders' pids.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout_s is None else clock.monotonic() + timeout_s
    while True:
        for slot in range(max(1, slots)):
            fd = os.open(lock_dir / f"host.slot{slot}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                yield slot
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if deadline is not None and clock.monotonic() >= deadline:
            raise HostBusyError(
                f"every benchmark slot of this host ({max(1, slots)}) stayed taken for {timeout_s:g} s "
                f"(held by pid {', '.join(_holders(lock_dir, slots)) or 'unknown'})",
                hint="another benchmark holds the host longer than a job may wait: check that process, or raise "
                     "the worker's slot timeout (BENCHFARM_WORKER_SLOT_TIMEOUT_S)")
        if on_wait is not None:
            on_wait()
        clock.sleep(poll_s)


def _holders(lock_dir: Path, slots: int) -> list[str]:
    """The pids written into the slots' lock files by their holders."""
    pids = []
    for slot in range(max(1, slots)):
        try:
            pid = (lock_dir / f"host.slot{slot}.lock").read_text().strip()
        except OSError:
            continue
        if pid:
            pids.append(pid)
    return pids
