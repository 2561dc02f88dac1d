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
    def in_registry(self, ref: str) -> bool: ...


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


class ImageFacts(Protocol):
    """What publishing reads of a resolved image (``ImageInfo`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def repo_digests(self) -> list[str]: ...


def registry_pull_ref(image: ImageFacts, registry: str) -> str | None:
    """The image's ``<registry>/<name>@sha256:...`` in the farm registry, from the digests its engine recorded
    when it was pushed there or pulled from there; None when it has none."""
    return next((d for d in image.repo_digests if d.startswith(f"{registry}/") and "@sha256:" in d), None)


class RegistryPublisher:
    """Makes a job's image pullable by the hosts that may run it: in the farm registry, pinned by digest.

    A job's image is resolved on the API's machine, where it may exist only locally (built
    there, never pushed). Another host (a node, a remote pool host) can only pull it from
    the farm registry, so at submit the image is pushed there when the engine has no
    record of it in the registry yet: under its own name and tag
    (``<registry>/<name>:<tag>``), the tag the job named or the image's first one. The
    job then records the pull reference; the worker of another host pulls it and checks
    that the image id is the one pinned at submit.
    """

    def __init__(self, docker: RegistryClient, registry: str,
                 progress: Callable[[str], None] = lambda _: None) -> None:
        self.docker = docker
        self.registry = registry
        self.progress = progress

    def pull_ref(self, ref: str, image: ImageFacts) -> str:
        """``<registry>/<name>@sha256:...`` of ``image`` (resolved from the job's ``ref``), pushing it when needed.

        Raises:
            RegistryError: the image has no tag to push it under, or the push failed.
        """
        known = registry_pull_ref(image, self.registry)
        # the engine's record can outlive the registry's storage (a registry wiped or replaced): ask it
        if known is not None and self.docker.in_registry(known):
            return known
        repository, tag = registry_repository(self.registry, self._name_and_tag(ref, image))
        self.docker.tag(image.id, repository, tag)
        self.progress(f"pushing {repository}:{tag} for the hosts that may run the job")
        return f"{repository}@{self.docker.push(repository, tag, progress=self.progress)}"

    def _name_and_tag(self, ref: str, image: ImageFacts) -> str:
        candidates = [ref] if "@" not in ref and not ref.startswith("sha256:") else []
        candidates += list(image.tags)
        for candidate in candidates:
            name, sep, tag = candidate.rpartition(":")
            if not sep or "/" in tag or not name:
                continue
            if name.startswith(f"{self.registry}/"):  # already a farm registry name: push it as it is named
                name = name[len(self.registry) + 1:]
            return f"{name}:{tag}"
        raise RegistryError(f"the image {ref} ({image.id[:19]}) has no tag to push it to the farm registry under",
                            hint="tag it (`docker tag IMAGE NAME:TAG`) or push it with `benchfarm image push`")
