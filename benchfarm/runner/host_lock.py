"""The host lock: by default one benchmark at a time per host, so benchmarks don't disturb each other."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchfarm.clock import SYSTEM_CLOCK, Clock


@contextmanager
def host_slot(lock_dir: Path, slots: int = 1, poll_s: float = 0.2, clock: Clock = SYSTEM_CLOCK) -> Iterator[int]:
    """Hold one of ``slots`` exclusive flock slots on this host; yields the slot number.

    With ``slots == 1`` (the default policy) benchmarks are serialised. Larger
    hosts may opt in to several slots, each job then pinned to its own cpuset.
    The kernel releases a flock when its holder dies, so a killed worker never
    leaves the host locked. While every slot is taken it retries every
    ``poll_s`` seconds of ``clock``.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
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
        clock.sleep(poll_s)
