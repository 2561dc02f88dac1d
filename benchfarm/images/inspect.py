"""Read-only views of images for the CLI: list, inspect, history (the ancestor walk)."""

from __future__ import annotations

import contextlib
from typing import Any

from benchfarm.errors import NotFoundError
from benchfarm.images import labels as L
from benchfarm.images.builder import ImageBuilder
from benchfarm.images.catalogue import Catalogue
from benchfarm.images.model import ImageEngine, ImageInfo
from benchfarm.settings import Settings


class ImageCatalogueView:
    """Joins the catalogue (images/) with what the engine holds."""

    def __init__(self, docker: ImageEngine, settings: Settings) -> None:
        self.docker = docker
        self.settings = settings
        self.catalogue = Catalogue(settings.repo_root / "images")

    def resolve_ref(self, ref: str) -> str:
        """A catalogue name (``sysbench``) -> its versioned tag; any other reference unchanged."""
        if ":" not in ref and "/" not in ref and ref in self.catalogue.names():
            return self.catalogue.get(ref).spec.ref
        return ref

    def resolve(self, ref: str) -> str:
        """The image id for a catalogue name, tag or id. Raises NotFoundError."""
        return self.docker.get(self.resolve_ref(ref)).id

    def _describe(self, info: ImageInfo) -> dict[str, Any]:
        prov = L.parse_labels(info.id, info.labels).to_dict()
        return {"image_id": info.id, "tags": info.tags, "repo_digests": info.repo_digests, "size": info.size,
                "provenance": prov}

    def rows(self) -> list[dict[str, Any]]:
        """One row per catalogue image: its spec, and its built image's provenance when built."""
        rows: list[dict[str, Any]] = []
        for entry in self.catalogue.entries():
            spec = entry.spec
            row: dict[str, Any] = {"name": spec.name, "version": spec.tag, "ref": spec.ref, "kind": spec.kind,
                                   "description": spec.description, "image_id": None, "tags": []}
            with contextlib.suppress(NotFoundError):
                row.update(self._describe(self.docker.get(spec.ref)))
            rows.append(row)
        return rows

    def inspect(self, ref: str) -> dict[str, Any]:
        """Provenance, labels and build records of one image. Raises NotFoundError."""
        info = self.docker.get(self.resolve_ref(ref))
        data = self._describe(info)
        data["labels"] = info.labels
        data["builds"] = ImageBuilder(self.docker, self.settings, self.catalogue).build_records(info.id)
        return data

    def history(self, ref: str) -> list[dict[str, Any]]:
        """The image and its ancestors, newest first; ancestors missing locally are listed by id only."""
        info = self.docker.get(self.resolve_ref(ref))
        prov = L.parse_labels(info.id, info.labels)
        chain: list[dict[str, Any]] = [{**prov.to_dict(), "tags": info.tags}]
        for ancestor in reversed(prov.ancestors):
            try:
                a = self.docker.get(ancestor)
            except NotFoundError:
                chain.append({"image_id": ancestor, "tags": [], "name": "(not in this engine)"})
                continue
            ap = L.parse_labels(a.id, a.labels).to_dict()
            if not ap["name"] and a.labels.get("benchfarm.rootfs.suite"):
                ap["name"] = f"rootfs ({a.labels['benchfarm.rootfs.suite']} minbase)"
            chain.append({**ap, "tags": a.tags})
        return chain
