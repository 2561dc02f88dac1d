"""Docker adapter for images: build, import, run a self-test, tag, save, push, pull.

With ``docker_engine`` the only module that imports ``docker``. Library errors
are converted in one place (``_convert``) into the farm's hierarchy.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import docker
import docker.errors
import requests.exceptions

from benchfarm.adapters.docker_engine import DockerEngine
from benchfarm.errors import BenchfarmError, ImageBuildError, NotFoundError, RegistryError, ServiceUnavailableError
from benchfarm.images.model import ImageInfo, Progress, RunOutput
from benchfarm.settings import Settings

_HINT_ENGINE = "start the farm with `benchfarm stack up` or set BENCHFARM_DOCKER_URL"


def _noop(_: str) -> None:
    return None


@contextmanager
def _convert(what: str) -> Iterator[None]:
    """The one table from docker-py errors to benchfarm errors."""
    try:
        yield
    except BenchfarmError:
        raise
    except docker.errors.ImageNotFound as exc:
        raise NotFoundError(f"{what}: image not found ({exc.explanation})",
                            hint="build it with `benchfarm image build NAME` or check `benchfarm image list`") from exc
    except docker.errors.NotFound as exc:
        raise NotFoundError(f"{what}: not found ({exc.explanation})", hint="check the name") from exc
    except docker.errors.BuildError as exc:
        raise ImageBuildError(f"{what}: {exc.msg}", hint="read the build output above; fix the Dockerfile") from exc
    except (requests.exceptions.ConnectionError, docker.errors.DockerException, OSError) as exc:
        if isinstance(exc, docker.errors.APIError):
            raise BenchfarmError(f"{what}: the Docker engine refused: {exc.explanation or exc}",
                                 hint="see the engine's log with `benchfarm stack logs docker`") from exc
        raise ServiceUnavailableError(f"{what}: cannot reach the Docker engine", hint=_HINT_ENGINE) from exc


class DockerImages(DockerEngine):
    """The image calls the farm makes, over one docker-py client (builds get a long timeout)."""

    def __init__(self, url: str, timeout: int = 600) -> None:
        super().__init__(url, timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(settings.docker_url)

    # queries -------------------------------------------------------------
    def get(self, ref: str) -> ImageInfo:
        """Inspect an image by tag or id. Raises NotFoundError."""
        with _convert(f"inspecting image {ref}"):
            return ImageInfo.from_attrs(self.client.api.inspect_image(ref))

    def exists(self, ref: str) -> bool:
        try:
            self.get(ref)
        except NotFoundError:
            return False
        return True

    def list(self, label: str | None = None) -> builtins.list[ImageInfo]:
        """Images carrying ``label`` (``key`` or ``key=value``), or all images."""
        filters = {"label": label} if label else None
        with _convert("listing images"):
            return [ImageInfo.from_attrs(i.attrs) for i in self.client.images.list(filters=filters)]

    # building ------------------------------------------------------------
    def build(self, context: Path, *, buildargs: dict[str, str], labels: dict[str, str], network: str,
              progress: Progress = _noop, nocache: bool = False) -> str:
        """``docker build`` (classic builder, so cache hits give the same id) untagged; returns the image id.

        Raises:
            ImageBuildError: a step failed (message holds the engine's error).
        """
        last: list[str] = []
        image_id = ""
        with _convert(f"building {context}"):
            stream = self.client.api.build(
                path=str(context), buildargs=buildargs, labels=labels, network_mode=network,
                rm=True, forcerm=True, decode=True, nocache=nocache, use_config_proxy=False,
            )
            for chunk in stream:
                if "error" in chunk:
                    detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                    tail = "".join(last[-5:]).strip()
                    raise ImageBuildError(f"docker build of {context.name} failed: {detail.strip()}"
                                          + (f"\n{tail}" if tail else ""),
                                          hint="fix the Dockerfile or the build network and rebuild")
                if "aux" in chunk and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
                text = chunk.get("stream") or ""
                if text.strip():
                    last.append(text)
                    if not text.startswith((" ---> ", "Removing intermediate container")):
                        progress(text.rstrip())
                    if text.startswith("Successfully built "):
                        image_id = image_id or text.split()[-1]
        if not image_id:
            raise ImageBuildError(f"docker build of {context.name} reported no image id", hint="rebuild")
        return self.get(image_id).id

    def import_rootfs(self, tarball: Path, repository: str, tag: str, changes: builtins.list[str]) -> str:
        """``docker import`` a root filesystem tarball as ``repository:tag``; returns the image id."""
        with _convert(f"importing {tarball}"):
            self.client.api.import_image(src=str(tarball), repository=repository, tag=tag, changes=changes)
        return self.get(f"{repository}:{tag}").id

    def run(self, image: str, command: builtins.list[str], *, timeout: float = 120, network: str = "none") -> RunOutput:
        """Run ``command`` in a throwaway container of ``image`` (no network); returns exit code and output."""
        with _convert(f"running {command} in {image}"):
            container = self.client.containers.create(image, command=command, network_mode=network,
                                                      labels={"benchfarm.image.validate": "1"})
            try:
                container.start()
                try:
                    status = container.wait(timeout=timeout)
                except requests.exceptions.ReadTimeout:
                    return RunOutput(exit_code=124, output=f"timed out after {timeout}s\n"
                                     + container.logs().decode(errors="replace"))
                output = container.logs(stdout=True, stderr=True).decode(errors="replace")
                return RunOutput(exit_code=int(status.get("StatusCode", 1)), output=output)
            finally:
                container.remove(force=True)

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        with _convert(f"tagging {image_id} as {repository}:{tag}"):
            self.client.api.tag(image_id, repository, tag, force=True)

    def remove(self, ref: str, force: bool = True) -> bool:
        """Remove an image; False (no error) when it was already gone."""
        try:
            with _convert(f"removing {ref}"):
                self.client.api.remove_image(ref, force=force)
        except NotFoundError:
            return False
        return True

    def in_registry(self, ref: str) -> bool:
        """Whether the registry named in ``ref`` (``host:port/name@sha256:...``) serves that manifest now."""
        try:
            with _convert(f"asking the registry for {ref}"):
                self.client.api.inspect_distribution(ref)
        except BenchfarmError:  # not found, or the registry refused or is away: not pullable from there
            return False
        return True

    def save(self, image: str) -> Iterator[bytes]:
        """The ``docker save`` tar stream of ``image``, in chunks."""
        with _convert(f"saving {image}"):
            yield from self.client.api.get_image(image, chunk_size=1 << 20)

    # registry ------------------------------------------------------------
    def push(self, repository: str, tag: str, progress: Progress = _noop) -> str:
        """Push ``repository:tag``; returns the registry's manifest digest (``sha256:...``).

        Raises:
            RegistryError: the registry refused or was unreachable.
        """
        digest = ""
        with _convert(f"pushing {repository}:{tag}"):
            for chunk in self.client.api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in chunk:
                    raise RegistryError(f"push of {repository}:{tag} failed: {chunk['error']}",
                                        hint="is the farm registry up? `benchfarm stack status`")
                aux = chunk.get("aux") or {}
                if "Digest" in aux:
                    digest = aux["Digest"]
                status = chunk.get("status")
                if status and not chunk.get("progressDetail"):
                    progress(f"{chunk.get('id', '')} {status}".strip())
        if not digest:
            raise RegistryError(f"push of {repository}:{tag} reported no digest", hint="retry the push")
        return digest

    def pull(self, ref: str) -> str:
        """Pull ``ref`` (``repo@sha256:...`` or ``repo:tag``); returns the local image id.

        Raises:
            RegistryError: the pull failed.
        """
        repo, sep, digest = ref.partition("@")
        try:
            with _convert(f"pulling {ref}"):
                if sep:
                    self.client.api.pull(repo, tag=digest)
                else:
                    self.client.api.pull(ref)
        except BenchfarmError as exc:
            if isinstance(exc, RegistryError):
                raise
            raise RegistryError(f"pull of {ref} failed: {exc.message}",
                                hint="check the reference and that the registry is up") from exc
        return self.get(ref).id
