"""Processes the stack starts itself, tracked by pid file so `down` stops only those."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ProcessRecord:
    """What a pid file remembers: the pid and its start time (guards against pid reuse)."""

    pid: int
    create_time: float
    argv: list[str]


class ManagedProcess:
    """A long-running service process started and stopped by the stack.

    The pid file holds JSON with the pid and the process's start time, so a
    recycled pid that now belongs to another program is never mistaken for
    ours and never killed.
    """

    def __init__(self, name: str, run_dir: Path, log_dir: Path) -> None:
        self.name = name
        self.pid_file = run_dir / f"{name}.pid.json"
        self.log_file = log_dir / f"{name}.log"

    def record(self) -> ProcessRecord | None:
        """The recorded process if it is still alive, else None (a stale record is removed)."""
        try:
            data = json.loads(self.pid_file.read_text())
            rec = ProcessRecord(pid=int(data["pid"]), create_time=float(data["create_time"]), argv=list(data["argv"]))
        except (FileNotFoundError, ValueError, KeyError):
            return None
        try:
            proc = psutil.Process(rec.pid)
            if abs(proc.create_time() - rec.create_time) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE:
                raise psutil.NoSuchProcess(rec.pid)
        except psutil.NoSuchProcess:
            self.pid_file.unlink(missing_ok=True)
            return None
        return rec

    @property
    def pid(self) -> int | None:
        rec = self.record()
        return rec.pid if rec else None

    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> int:
        """Start ``argv`` detached in its own session, output appended to the service log."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                user=user,
                group=None if user is None else _primary_group(user),
                close_fds=True,
            )
        create_time = psutil.Process(proc.pid).create_time()
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "create_time": create_time, "argv": argv}))
        return proc.pid

    def exited_early(self) -> bool:
        """True when we have no live process (it died after start)."""
        return self.record() is None

    def stop(self, timeout: float = 30.0, *, descendants: bool = True) -> bool:
        """Stop the process and (unless ``descendants`` is false) all its descendants: SIGTERM, then SIGKILL
        after ``timeout``.

        Returns True if something was stopped.
        """
        rec = self.record()
        if rec is None:
            return False
        try:
            root = psutil.Process(rec.pid)
            procs = [root, *(root.children(recursive=True) if descendants else [])]
        except psutil.NoSuchProcess:
            self.pid_file.unlink(missing_ok=True)
            return False
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(alive, timeout=5)
        self.pid_file.unlink(missing_ok=True)
        return True

    @staticmethod
    def kill_leftovers(pid: int) -> int:
        """SIGKILL what is left of a dead service whose main process was ``pid``; returns how many died.

        Every service is started in a session of its own, so its processes share the process group
        ``pid``: a `kill -9` of the main process alone orphans the rest (salt-master's workers, the
        Elasticsearch server under its launcher), which keep its ports and would pass a health check
        while the stack has no process to manage.
        """
        left = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if proc.pid != pid and os.getpgid(proc.pid) == pid and os.getsid(proc.pid) == pid:
                    left.append(proc)
        for proc in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(left, timeout=10)
        return len(left)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the service log."""
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid
