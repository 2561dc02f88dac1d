"""Index image manifests in Elasticsearch (``<prefix>-image-manifests``) through a callable.

The store (benchfarm/store/) owns the Elasticsearch client; this module only
shapes documents and hands them to ``index_docs(index, docs)``, so it needs no
client and is testable with any callable. One document per file and one per
Debian package, each keyed by image id, so "which images hold this file/hash"
and "which images have package X at version Y" are plain term queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from benchfarm.images.manifest import Manifest

IndexDocs = Callable[[str, list[dict[str, Any]]], Any]
INDEX_SUFFIX = "image-manifests"


def manifest_index(prefix: str) -> str:
    return f"{prefix}-{INDEX_SUFFIX}"


def manifest_docs(manifest: Manifest, refs: list[str]) -> Iterator[dict[str, Any]]:
    """The documents of one manifest: ``kind`` file or package, with a stable ``_id``."""
    hexid = manifest.image_id.split(":")[-1]
    for path, entry in sorted(manifest.files.items()):
        yield {"_id": f"{hexid}:f:{path}", "kind": "file", "image_id": manifest.image_id, "refs": refs,
               "path": path, **entry.to_dict()}
    for name, version in sorted(manifest.packages.items()):
        yield {"_id": f"{hexid}:p:{name}", "kind": "package", "image_id": manifest.image_id, "refs": refs,
               "package": name, "version": version}


def index_manifest(manifest: Manifest, refs: list[str], index_docs: IndexDocs, prefix: str,
                   batch: int = 5000) -> int:
    """Send a manifest's documents to ``index_docs`` in batches; returns how many were sent."""
    index = manifest_index(prefix)
    sent = 0
    chunk: list[dict[str, Any]] = []
    for doc in manifest_docs(manifest, refs):
        chunk.append(doc)
        if len(chunk) >= batch:
            index_docs(index, chunk)
            sent += len(chunk)
            chunk = []
    if chunk:
        index_docs(index, chunk)
        sent += len(chunk)
    return sent
