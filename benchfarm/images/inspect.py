"""Read-only views of images for the CLI: list, inspect, history (the ancestor walk)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from benchfarm.errors import NotFoundError
from benchfarm.images import labels as L
from benchfarm.images.builder import ImageBuilder
from benchfarm.images.catalogue import IMAGE_NAMESPACE, Catalogue
from benchfarm.images.directory import DOCKERFILE, directory_image
from benchfarm.images.model import ImageEngine, ImageInfo
from benchfarm.settings import Settings


class ImageCatalogueView:
    """Joins the catalogue (images/) with what the engine holds."""

    def __init__(self, docker: ImageEngine, settings: Settings) -> None:
        self.docker = docker
        self.settings = settings
        self.catalogue = Catalogue(settings.repo_root / "images")

    def resolve_ref(self, ref: str) -> str:
        """The versioned tag for a name or directory; any other reference unchanged.

        A catalogue name (``sysbench``) -> ``benchfarm/sysbench:<version>``; a directory built with
        ``benchfarm image build PATH`` -> the tag that build gives it; the name of an image built
        from a directory (``mybench``, when ``benchfarm/mybench:latest`` is here) -> the version
        that ``latest`` carries.

        Raises:
            SpecError: ``ref`` is a directory whose benchmark.yaml or Dockerfile is not valid.
        """
        names = self.catalogue.names()
        if ":" not in ref and "/" not in ref and ref in names:
            return self.catalogue.get(ref).spec.ref
        path = Path(ref)
        if (path / DOCKERFILE).is_file():
            resolved = path.resolve()
            if resolved.parent == self.catalogue.root.resolve() and resolved.name in names:
                return self.catalogue.get(resolved.name).spec.ref
            return directory_image(path, catalogue_names=names).spec.ref
        if ":" not in ref and "/" not in ref and "@" not in ref:
            latest = f"{IMAGE_NAMESPACE}/{ref}:latest"
            if self.docker.exists(latest):
                info = self.docker.get(latest)
                versioned = f"{IMAGE_NAMESPACE}/{ref}:{info.labels.get(L.VERSION, '')}"
                return versioned if versioned in info.tags else latest
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
