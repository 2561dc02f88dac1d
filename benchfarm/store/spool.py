"""The disk spool: batches Elasticsearch could not take, kept in order until it can."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Spool:
    """An append-only JSON-lines file of bulk actions; each append is fsync'd before returning.

    One line is one bulk action (``_index``, ``_id``, ``_op_type``, ``_source``).
    Replay reads every line in order; after a successful replay the file is
    truncated. An flock serialises writers of several processes on one host.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, actions: list[dict[str, Any]]) -> None:
        """Write the actions durably (fsync) at the end of the spool. Caller holds ``locked()``."""
        if not actions:
            return
        data = "".join(json.dumps(a, separators=(",", ":"), default=str) + "\n" for a in actions).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        """All spooled actions in order. Caller holds ``locked()``; a torn last line is skipped."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a crash mid-write: its batch was never acknowledged
        return out

    def clear(self) -> None:
        """Empty the spool (after everything in it reached Elasticsearch). Caller holds ``locked()``."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __len__(self) -> int:
        try:
            with open(self.path, "rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0
