"""File-level manifests of images, computed from ``docker save`` without running them, and their diff.

A manifest maps every path in the image's flattened filesystem to its type,
sha256 (of the content; of the link target for symlinks), size and mode, plus the
Debian packages read from ``/var/lib/dpkg/status``. The ``docker save`` stream
is read once, layer by layer, applying OCI whiteouts (``.wh.NAME`` deletes NAME,
``.wh..wh..opq`` empties a directory of lower-layer entries). Manifests are kept
as ``state_dir/manifests/<image hex>.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from benchfarm.images.dpkg import parse_dpkg_status

DPKG_STATUS = "var/lib/dpkg/status"
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class ImageSaver(Protocol):
    def save(self, image: str) -> Iterator[bytes]: ...
    def get(self, ref: str) -> Any: ...


@dataclass(frozen=True)
class FileEntry:
    type: str      # file, symlink, dir, other
    sha256: str    # content hash; for symlinks the hash of the target; "" for dirs
    size: int
    mode: str      # octal permission bits, e.g. "0755"
    target: str = ""  # symlink target

    def to_dict(self) -> dict[str, Any]:
        d = {"type": self.type, "sha256": self.sha256, "size": self.size, "mode": self.mode}
        if self.target:
            d["target"] = self.target
        return d


@dataclass
class Manifest:
    image_id: str
    files: dict[str, FileEntry]
    packages: dict[str, str]  # Debian package -> version

    def to_dict(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "packages": self.packages,
                "files": {p: e.to_dict() for p, e in sorted(self.files.items())}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        files = {p: FileEntry(type=e["type"], sha256=e["sha256"], size=e["size"], mode=e["mode"],
                              target=e.get("target", "")) for p, e in data["files"].items()}
        return cls(image_id=data["image_id"], files=files, packages=dict(data.get("packages", {})))


class _Chunks(io.RawIOBase):
    """A file-like view over an iterator of byte chunks (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _norm(name: str) -> str:
    """Tar member name -> absolute path ("./etc/x" and "etc/x" -> "/etc/x")."""
    path = posixpath.normpath("/" + name)
    return "/" + path.lstrip("/")


def _hash(f: IO[bytes]) -> str:
    h = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


@dataclass
class _Layer:
    """One layer's own entries and deletions, read from its layer.tar."""

    entries: dict[str, FileEntry] = field(default_factory=dict)
    whiteouts: list[str] = field(default_factory=list)
    opaque_dirs: list[str] = field(default_factory=list)
    dpkg_status: bytes | None = None


def read_layer(fileobj: IO[bytes]) -> _Layer:
    """Read one layer tar (streaming) into entries and whiteouts."""
    layer = _Layer()
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for m in tar:
            path = _norm(m.name)
            base = posixpath.basename(path)
            parent = posixpath.dirname(path)
            if base == OPAQUE:
                layer.opaque_dirs.append(parent)
                continue
            if base.startswith(WHITEOUT):
                layer.whiteouts.append(posixpath.join(parent, base[len(WHITEOUT):]))
                continue
            mode = f"{m.mode & 0o7777:04o}"
            if m.isreg():
                f = tar.extractfile(m)
                assert f is not None
                if path == "/" + DPKG_STATUS:
                    data = f.read()
                    layer.dpkg_status = data
                    digest = hashlib.sha256(data).hexdigest()
                else:
                    digest = _hash(f)
                layer.entries[path] = FileEntry("file", digest, m.size, mode)
            elif m.islnk():  # hard link to an earlier member of the same layer
                target = layer.entries.get(_norm(m.linkname))
                layer.entries[path] = FileEntry("file", target.sha256 if target else "", target.size if target else 0,
                                                mode)
            elif m.issym():
                layer.entries[path] = FileEntry("symlink", hashlib.sha256(m.linkname.encode()).hexdigest(),
                                                len(m.linkname), mode, target=m.linkname)
            elif m.isdir():
                if path != "/":
                    layer.entries[path] = FileEntry("dir", "", 0, mode)
            else:
                layer.entries[path] = FileEntry("other", "", 0, mode)
    return layer


def apply_layer(files: dict[str, FileEntry], layer: _Layer) -> None:
    """Apply ``layer`` on top of ``files`` (whiteouts first, then its entries)."""
    for d in layer.opaque_dirs:
        prefix = d.rstrip("/") + "/"
        for p in [p for p in files if p.startswith(prefix)]:
            del files[p]
    for w in layer.whiteouts:
        prefix = w.rstrip("/") + "/"
        for p in [p for p in files if p == w or p.startswith(prefix)]:
            del files[p]
    files.update(layer.entries)


def manifest_from_save(image_id: str, chunks: Iterable[bytes]) -> Manifest:
    """Compute the manifest of an image from its ``docker save`` tar stream.

    Layers are read in stream order and applied in the order ``manifest.json`` lists.
    Raises:
        ValueError: the stream is not a docker save archive.
    """
    layers: dict[str, _Layer] = {}
    index: list[dict[str, Any]] | None = None
    with tarfile.open(fileobj=io.BufferedReader(_Chunks(chunks), buffer_size=1 << 20), mode="r|") as outer:
        for m in outer:
            if m.isreg() and m.name.endswith("layer.tar"):
                f = outer.extractfile(m)
                assert f is not None
                layers[m.name] = read_layer(f)
            elif m.name == "manifest.json":
                f = outer.extractfile(m)
                assert f is not None
                index = json.loads(f.read())
    if not index:
        raise ValueError("not a docker save archive: no manifest.json")
    files: dict[str, FileEntry] = {}
    dpkg: bytes | None = None
    for name in index[0]["Layers"]:
        layer = layers[name]
        apply_layer(files, layer)
        if layer.dpkg_status is not None:
            dpkg = layer.dpkg_status
        elif "/" + DPKG_STATUS not in files:
            dpkg = None
    packages = parse_dpkg_status(dpkg.decode(errors="replace")) if dpkg else {}
    return Manifest(image_id=image_id, files=files, packages=packages)


def manifest_path(state_dir: Path, image_id: str) -> Path:
    return state_dir / "manifests" / f"{image_id.rsplit(':', maxsplit=1)[-1]}.json"


def ensure_manifest(docker: ImageSaver, image_id: str, state_dir: Path,
                    progress: Callable[[str], None] = lambda _: None) -> Manifest:
    """The stored manifest of ``image_id``, computing and storing it first when missing."""
    path = manifest_path(state_dir, image_id)
    if path.is_file():
        return Manifest.from_dict(json.loads(path.read_text()))
    progress(f"computing the file manifest of {image_id[:19]} from docker save")
    manifest = manifest_from_save(image_id, docker.save(image_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(manifest.to_dict()))
    tmp.replace(path)
    return manifest


@dataclass
class ManifestDiff:
    a: str
    b: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    packages: dict[str, tuple[str | None, str | None]]  # name -> (old version, new version)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "added": self.added, "removed": self.removed, "changed": self.changed,
                "packages": {k: {"old": v[0], "new": v[1]} for k, v in sorted(self.packages.items())}}

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.packages)


def diff_manifests(a: Manifest, b: Manifest) -> ManifestDiff:
    """What changed from ``a`` to ``b``: files added/removed/changed (type, hash, size or mode) and packages."""
    added = sorted(set(b.files) - set(a.files))
    removed = sorted(set(a.files) - set(b.files))
    changed = sorted(p for p in set(a.files) & set(b.files) if a.files[p] != b.files[p])
    packages: dict[str, tuple[str | None, str | None]] = {}
    for name in set(a.packages) | set(b.packages):
        old, new = a.packages.get(name), b.packages.get(name)
        if old != new:
            packages[name] = (old, new)
    return ManifestDiff(a=a.image_id, b=b.image_id, added=added, removed=removed, changed=changed, packages=packages)
