"""The project as wheels on this machine: benchfarm's own and every locked dependency.

Nodes reach no package index, so their Python environment is installed from
what the host built: ``pip wheel --require-hashes -r requirements.lock`` fills a
wheelhouse under the cache directory once per lock (pip checks every download
against the lock's hashes; the few sdists are built here), benchfarm's wheel is
built from the working tree, and ``pip install --dry-run --report`` against the
wheelhouse, constrained to the lock's pins, names exactly the wheels benchfarm
needs at run time (no test tools in a node).

pip runs as a subprocess of the farm's own interpreter (the venv made from
Debian's python3, which is also the interpreter of a bookworm node), so the
wheels' tags fit the node.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchfarm.nodes.errors import NodeImageError

Progress = Callable[[str], None]

# wheels built from the same tree are byte-identical, so the image layer that installs
# benchfarm's wheel is reused until the code changes (zip entries carry this date)
REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the earliest date a zip can hold
_SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE", "setup.cfg", "MANIFEST.in")


def _quiet(_: str) -> None:
    return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class LockedWheel:
    """One wheel the node installs: the distribution, its version, the file in the wheelhouse."""

    name: str
    version: str
    path: Path


def _pip(python: Path, args: list[str], what: str, timeout: float, env: dict[str, str] | None = None) -> str:
    cmd = [str(python), "-m", "pip", *args, "--disable-pip-version-check"]
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as exc:
        raise NodeImageError(f"{what}: pip took longer than {timeout:.0f} s", hint="check the network to the "
                             "package index (only needed while the wheelhouse is filled)") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise NodeImageError(f"{what} failed (pip exit {done.returncode}):\n{tail}",
                             hint="read pip's message above")
    return done.stdout


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise fills of one wheelhouse across processes (two test sessions, a CLI)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".fill.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_pins(lock: Path) -> list[str]:
    """The ``name==version[ ; marker]`` requirements of a hash-pinned lock file, hashes left out."""
    pins: list[str] = []
    for line in lock.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith(("#", "--")):
            continue
        req = text.removesuffix("\\").strip()
        if "==" in req.split(";")[0]:
            pins.append(req)
    return pins


def ensure_wheelhouse(lock: Path, directory: Path, python: Path, progress: Progress = _quiet) -> str:
    """Make ``directory`` hold a wheel of every package in ``lock``; returns the lock's sha256.

    Skipped when the directory was filled from a lock with the same content (a stamp
    file records it), so the index is contacted only when the lock changes.

    Raises:
        NodeImageError: the lock is missing, or pip could not fetch or build a wheel.
    """
    if not lock.is_file():
        raise NodeImageError(f"{lock} does not exist", hint="run from a benchfarm checkout (requirements.lock)")
    digest = sha256_file(lock)
    stamp = directory / ".lock-sha256"
    with _locked(directory):
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return digest
        progress(f"filling the wheelhouse {directory} from {lock.name} (pip wheel --require-hashes; once per lock)")
        _pip(python, ["wheel", "--no-deps", "--require-hashes", "-r", str(lock), "-w", str(directory),
                      "--quiet"], f"pip wheel -r {lock.name}", timeout=1800)
        stamp.write_text(digest + "\n")
    return digest


def build_project_wheel(source: Path, out_dir: Path, python: Path, progress: Progress = _quiet) -> Path:
    """Build benchfarm's wheel from the tree at ``source`` into ``out_dir``; returns its path.

    The package and its metadata files are copied to a scratch directory first, so the
    build leaves no ``build/`` or ``*.egg-info`` in the working tree (and a stale
    ``build/lib`` can never slip a deleted module into the wheel). The build backend
    comes from the farm's venv (``--no-build-isolation``), which the lock installed.

    Raises:
        NodeImageError: the build failed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="benchfarm-wheel-") as tmp:
        tree = Path(tmp) / "src"
        tree.mkdir()
        for name in _SOURCE_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, tree / name)
        shutil.copytree(source / "benchfarm", tree / "benchfarm",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        progress("building the benchfarm wheel from the working tree")
        _pip(python, ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "-w", str(out_dir),
                      str(tree)], "building the benchfarm wheel", timeout=600,
             env={"SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH})
    wheels = sorted(out_dir.glob("benchfarm-*.whl"))
    if len(wheels) != 1:
        raise NodeImageError(f"expected one benchfarm wheel in {out_dir}, found {[w.name for w in wheels]}",
                             hint="build into an empty directory")
    return wheels[0]


def _requirements_of(wheel: Path) -> list[str]:
    """The ``Requires-Dist``/``Requires-Python`` lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(name).decode()
    return sorted(line for line in text.splitlines() if line.startswith(("Requires-Dist:", "Requires-Python:")))


def runtime_closure(wheel: Path, wheelhouse: Path, lock: Path, python: Path) -> list[LockedWheel]:
    """The wheels (from ``wheelhouse``, at the lock's versions) that installing ``wheel`` needs.

    pip's resolver takes several seconds, so the answer is kept in the wheelhouse, keyed by
    the lock's content, the wheel's declared requirements and the interpreter.

    Raises:
        NodeImageError: a dependency has no wheel in the wheelhouse (refill it), or pip failed.
    """
    key = hashlib.sha256("\n".join([sha256_file(lock), str(python), *_requirements_of(wheel)]).encode()).hexdigest()
    cached = wheelhouse / f".closure-{key[:16]}.json"
    if cached.is_file():
        found = [LockedWheel(name=w["name"], version=w["version"], path=Path(w["path"]))
                 for w in json.loads(cached.read_text())]
        if all(w.path.is_file() for w in found):
            return found
    found = _resolve_closure(wheel, wheelhouse, lock, python)
    cached.write_text(json.dumps([{"name": w.name, "version": w.version, "path": str(w.path)} for w in found]))
    return found


def _resolve_closure(wheel: Path, wheelhouse: Path, lock: Path, python: Path) -> list[LockedWheel]:
    with tempfile.TemporaryDirectory(prefix="benchfarm-closure-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(lock_pins(lock)) + "\n")
        report = Path(tmp) / "report.json"
        _pip(python, ["install", "--dry-run", "--ignore-installed", "--no-index", "--quiet",
                      "--find-links", str(wheelhouse), "-c", str(constraints), "--report", str(report),
                      str(wheel)], "resolving benchfarm's run-time dependencies from the wheelhouse", timeout=300)
        data = json.loads(report.read_text())
    found: list[LockedWheel] = []
    for item in data.get("install", []):
        meta = item.get("metadata") or {}
        url = (item.get("download_info") or {}).get("url", "")
        path = Path(url.removeprefix("file://"))
        if path == wheel.resolve() or path == wheel:
            continue
        if not url.startswith("file://") or path.suffix != ".whl":
            raise NodeImageError(f"{meta.get('name')} {meta.get('version')} resolved to {url}, not a local wheel",
                                 hint=f"refill the wheelhouse: delete {wheelhouse}/.lock-sha256 and rebuild")
        found.append(LockedWheel(name=str(meta["name"]), version=str(meta["version"]), path=path))
    return sorted(found, key=lambda w: w.name.lower())
