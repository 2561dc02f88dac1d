"""The farm registry: push catalogue images, pull them by digest on pool hosts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from benchfarm.errors import RegistryError


class RegistryClient(Protocol):
    """What this module needs from the Docker adapter (``DockerImages`` fits)."""

    def get(self, ref: str): ...
    def tag(self, image_id: str, repository: str, tag: str) -> None: ...
    def push(self, repository: str, tag: str, progress: Callable[[str], None] = ...) -> str: ...
    def pull(self, ref: str) -> str: ...


@dataclass(frozen=True)
class PushedImage:
    image_id: str
    repository: str   # <registry>/<name>
    tag: str
    digest: str       # the registry manifest digest

    @property
    def pull_ref(self) -> str:
        """``<registry>/<name>@sha256:...``: what pool hosts pull and jobs record."""
        return f"{self.repository}@{self.digest}"

    def to_dict(self) -> dict[str, str]:
        return {"image_id": self.image_id, "repository": self.repository, "tag": self.tag,
                "digest": self.digest, "pull_ref": self.pull_ref}


def registry_repository(registry: str, local_ref: str) -> tuple[str, str]:
    """``benchfarm/sysbench:1.0.0`` -> (``<registry>/benchfarm/sysbench``, ``1.0.0``).

    Raises:
        RegistryError: the local reference has no tag.
    """
    name, sep, tag = local_ref.rpartition(":")
    if not sep or "/" in tag or not name:
        raise RegistryError(f"{local_ref} has no tag to push",
                            hint="push a tagged image, e.g. benchfarm/sysbench:1.0.0")
    return f"{registry}/{name}", tag


def push_image(docker: RegistryClient, local_ref: str, registry: str,
               progress: Callable[[str], None] = lambda _: None) -> PushedImage:
    """Tag ``local_ref`` as ``<registry>/<name>:<version>`` and push it; returns its registry digest."""
    info = docker.get(local_ref)
    repository, tag = registry_repository(registry, local_ref)
    docker.tag(info.id, repository, tag)
    progress(f"pushing {repository}:{tag}")
    digest = docker.push(repository, tag, progress=progress)
    return PushedImage(image_id=info.id, repository=repository, tag=tag, digest=digest)


def pull_by_digest(docker: RegistryClient, ref: str) -> str:
    """Pull ``<registry>/<name>@sha256:...`` (pool hosts run only what was pushed); returns the local image id.

    Raises:
        RegistryError: ``ref`` is not pinned by digest, or the pull failed.
    """
    if "@sha256:" not in ref:
        raise RegistryError(f"{ref} is not pinned by digest",
                            hint="use the reference `benchfarm image push` printed (<registry>/<name>@sha256:...)")
    return docker.pull(ref)
