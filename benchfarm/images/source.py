"""Where an image's build context comes from: git commit, dirty flag, source time."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class SourceInfo:
    """The git state of one image directory."""

    commit: str       # last commit touching the directory; "" outside git
    dirty: bool       # uncommitted (or untracked) changes in the directory, or not in git
    time: str         # RFC 3339 UTC source time (see benchfarm.images.labels)
    source: str       # repository-relative path, or the absolute path outside git


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _newest_mtime(directory: Path) -> float:
    times = [p.stat().st_mtime for p in directory.rglob("*") if p.is_file()]
    return max(times, default=0.0)


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_info(directory: Path) -> SourceInfo:
    """Describe ``directory``'s provenance from git (never raises for a non-git dir).

    The time is the committer time of the last commit touching the directory when
    it is clean, else the newest file mtime in it: both derive from the inputs, so
    an unchanged directory keeps its time.
    """
    directory = directory.resolve()
    top = _git(directory, "rev-parse", "--show-toplevel")
    if not top:
        return SourceInfo(commit="", dirty=True, time=_rfc3339(_newest_mtime(directory)), source=str(directory))
    rel = str(directory.relative_to(Path(top).resolve())) if directory != Path(top).resolve() else "."
    log = _git(directory, "log", "-1", "--format=%H %ct", "--", ".") or ""
    status = _git(directory, "status", "--porcelain", "--untracked-files=all", "--", ".")
    commit, _, ctime = log.partition(" ")
    dirty = bool(status) or not commit
    time = _rfc3339(_newest_mtime(directory)) if dirty or not ctime else _rfc3339(float(ctime))
    return SourceInfo(commit=commit, dirty=dirty, time=time, source=rel)
