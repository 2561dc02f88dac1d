"""Manifests from docker-save archives (built in memory), whiteouts, dpkg status, diffs, index docs."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from benchfarm.images.dpkg import parse_dpkg_status
from benchfarm.images.index import index_manifest, manifest_index
from benchfarm.images.manifest import FileEntry, Manifest, diff_manifests, manifest_from_save

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
DPKG = (FIXTURES / "dpkg-status-bookworm-excerpt").read_text()


def _layer(entries: list[tuple]) -> bytes:
    """A layer tar from (kind, name, payload, mode) tuples; kind: file, dir, sym, link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for kind, name, payload, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE}[kind]
            info.linkname = payload or ""
            tar.addfile(info)
    return buf.getvalue()


def _save(layers: list[bytes]) -> list[bytes]:
    """A docker-save archive (layers before manifest.json, as the engine streams it), in chunks."""
    buf = io.BytesIO()
    names = [f"{i:064x}/layer.tar" for i in range(len(layers))]
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in zip(names, layers, strict=True):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        manifest = json.dumps([{"Config": "x.json", "RepoTags": [], "Layers": names}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    data = buf.getvalue()
    return [data[i:i + 1000] for i in range(0, len(data), 1000)]  # odd chunking on purpose


LOWER = _layer([
    ("dir", "etc/", None, 0o755),
    ("file", "etc/hosts", b"127.0.0.1 localhost\n", 0o644),
    ("dir", "opt/app/", None, 0o755),
    ("file", "opt/app/a", b"a", 0o644),
    ("file", "opt/app/b", b"b", 0o644),
    ("file", "bin/tool", b"#!/bin/sh\n", 0o755),
    ("link", "bin/tool2", "bin/tool", 0o755),
    ("sym", "bin/sh", "busybox", 0o777),
    ("dir", "var/lib/dpkg/", None, 0o755),
    ("file", "var/lib/dpkg/status", DPKG.encode(), 0o644),
])
UPPER = _layer([
    ("file", "etc/.wh.hosts", b"", 0o644),           # delete etc/hosts
    ("dir", "opt/app/", None, 0o755),
    ("file", "opt/app/.wh..wh..opq", b"", 0o644),    # empty opt/app of lower entries
    ("file", "opt/app/c", b"c", 0o600),
    ("file", "etc/planted", b"planted", 0o644),
])


def test_single_layer_manifest() -> None:
    m = manifest_from_save("sha256:1", _save([LOWER]))
    assert m.files["/etc/hosts"] == FileEntry("file", hashlib.sha256(b"127.0.0.1 localhost\n").hexdigest(), 20, "0644")
    assert m.files["/bin/tool2"].sha256 == m.files["/bin/tool"].sha256  # hard link resolves to content
    assert m.files["/bin/sh"].type == "symlink" and m.files["/bin/sh"].target == "busybox"
    assert m.packages["libc6:amd64"] == "2.36-9+deb12u14"


def test_whiteouts_and_opaque_dirs_apply_in_layer_order() -> None:
    m = manifest_from_save("sha256:2", _save([LOWER, UPPER]))
    assert "/etc/hosts" not in m.files
    assert "/opt/app/a" not in m.files and "/opt/app/b" not in m.files
    assert m.files["/opt/app/c"].mode == "0600"
    assert "/etc/planted" in m.files
    assert not any(".wh." in p for p in m.files)


def test_diff_lists_added_removed_changed_and_packages() -> None:
    a = manifest_from_save("sha256:a", _save([LOWER]))
    b = manifest_from_save("sha256:b", _save([LOWER, UPPER]))
    b.packages = {**b.packages, "sysbench": "1.0.20+ds-5"}
    b.packages.pop("zlib1g:amd64")
    b.packages["apt"] = "2.6.2"
    d = diff_manifests(a, b)
    assert d.added == ["/etc/planted", "/opt/app/c"]
    assert d.removed == ["/etc/hosts", "/opt/app/a", "/opt/app/b"]
    assert d.changed == []
    assert d.packages == {"sysbench": (None, "1.0.20+ds-5"), "zlib1g:amd64": ("1:1.2.13.dfsg-1", None),
                          "apt": ("2.6.1", "2.6.2")}
    assert diff_manifests(a, a).empty


def test_diff_sees_content_and_mode_changes() -> None:
    a = Manifest("sha256:a", {"/x": FileEntry("file", "h1", 1, "0644"), "/y": FileEntry("file", "h", 1, "0644")}, {})
    b = Manifest("sha256:b", {"/x": FileEntry("file", "h2", 1, "0644"), "/y": FileEntry("file", "h", 1, "0755")}, {})
    assert diff_manifests(a, b).changed == ["/x", "/y"]


def test_manifest_round_trips_through_json() -> None:
    m = manifest_from_save("sha256:3", _save([LOWER]))
    assert Manifest.from_dict(json.loads(json.dumps(m.to_dict()))).files == m.files


def test_not_a_save_archive() -> None:
    with pytest.raises(ValueError, match=r"manifest\.json"):
        manifest_from_save("sha256:4", [_layer([("file", "x", b"x", 0o644)])])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DPKG, {"apt": "2.6.1", "base-files": "12.4+deb12u15", "dpkg": "1.21.23", "libc6:amd64": "2.36-9+deb12u14",
                "libgcc-s1:amd64": "12.2.0-14+deb12u1", "zlib1g:amd64": "1:1.2.13.dfsg-1"}),
        ("Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n", {}),
        ("Package: x\nStatus: install ok installed\nVersion: 2\nDescription: d\n more: text\n", {"x": "2"}),
        ("", {}),
    ],
)
def test_parse_dpkg_status(text: str, expected: dict) -> None:
    assert parse_dpkg_status(text) == expected


def test_index_manifest_batches_file_and_package_docs() -> None:
    m = manifest_from_save("sha256:5", _save([LOWER]))
    calls: list[tuple[str, list]] = []
    sent = index_manifest(m, ["benchfarm/x:1"], lambda index, docs: calls.append((index, docs)), "bf", batch=4)
    assert sent == len(m.files) + len(m.packages) == sum(len(d) for _, d in calls)
    assert {i for i, _ in calls} == {manifest_index("bf")} == {"bf-image-manifests"}
    docs = [d for _, batch in calls for d in batch]
    assert len({d["_id"] for d in docs}) == sent
    assert {"kind": "package", "package": "apt", "version": "2.6.1"}.items() <= next(
        d for d in docs if d.get("package") == "apt").items()
