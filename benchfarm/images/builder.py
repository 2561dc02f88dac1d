"""``benchfarm image build``: base chain, provenance labels, docker build, validate, tag.

An image is tagged usable (``:<version>`` and ``:latest``) only after its own
``validate`` command passed in a fresh container with no network. Each build's
wall-clock time, host and cause are appended to a build record outside the
image (``state_dir/images/builds/<image hex>.json``) so that the image itself
stays a pure function of its inputs (see ``benchfarm.images.labels``).
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchfarm.errors import ImageValidationError, SetupError, SpecError
from benchfarm.images import labels as L
from benchfarm.images.catalogue import IMAGE_NAMESPACE, METADATA_FILE, Catalogue, ImageSpec, load_spec
from benchfarm.images.directory import directory_image
from benchfarm.images.model import ImageEngine
from benchfarm.images.rootfs import ensure_rootfs
from benchfarm.images.source import source_info
from benchfarm.settings import Settings

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class BaseResolution:
    """What an image is built FROM: the reference for ``FROM``, its id, and the chain."""

    ref: str            # "" for scratch
    image_id: str       # "" for scratch
    ancestors: tuple[str, ...]  # oldest first, the base itself last


@dataclass
class BuildResult:
    name: str
    image_id: str
    tags: list[str]
    labels: dict[str, str]
    validate_output: str
    built_bases: list[str] = field(default_factory=list)
    validated: bool = True  # False: the image gave no validate command (a directory without one)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class ImageBuilder:
    """Builds catalogue images through the Docker adapter."""

    def __init__(self, docker: ImageEngine, settings: Settings, catalogue: Catalogue | None = None) -> None:
        self.docker = docker
        self.settings = settings
        self.catalogue = catalogue or Catalogue(settings.repo_root / "images")

    # base chain ------------------------------------------------------------
    def resolve_base(self, spec: ImageSpec, *, cause: str, ci_tag: str, progress: Progress,
                     built: list[str]) -> BaseResolution:
        """Find (building first when missing) the image ``spec`` is built FROM.

        An existing catalogue base is used as it is: after changing ``images/base``,
        rebuild it explicitly (``benchfarm image build base``) before its children.

        Raises:
            SetupError: an external base (e.g. a CUDA image) is not in the local engine.
        """
        base = spec.base
        if base.kind == "scratch":
            return BaseResolution(ref="", image_id="", ancestors=())
        if base.kind == "rootfs":
            rootfs = ensure_rootfs(self.docker, self.settings.cache_dir, base.suite or "bookworm", progress)
            return BaseResolution(ref=rootfs.ref, image_id=rootfs.image_id, ancestors=(rootfs.image_id,))
        if base.kind == "external":
            ref = base.ref or ""
            self._ensure_catalogue_image(ref, cause=cause, ci_tag=ci_tag, progress=progress, built=built)
            if not self.docker.exists(ref):
                raise SetupError(
                    f"{spec.name} cannot be built here: it builds FROM {ref}, which is not in the local "
                    f"Docker engine, and benchfarm never pulls bases from public registries",
                    hint=f"on a machine that has it, `docker load` or pull {ref} into the engine, then rerun "
                         f"`benchfarm image build {spec.name}`",
                )
            info = self.docker.get(ref)
            return BaseResolution(ref=ref, image_id=info.id,
                                  ancestors=(*L.parse_labels(info.id, info.labels).ancestors, info.id))
        parent = self.catalogue.get(base.name or "").spec
        if not self.docker.exists(parent.ref):
            progress(f"base {parent.ref} is missing: building it first")
            self.build(parent.name, cause=cause, ci_tag=ci_tag, progress=progress)
            built.append(parent.ref)
        info = self.docker.get(parent.ref)
        chain = tuple(L.parse_labels(info.id, info.labels).ancestors)
        return BaseResolution(ref=parent.ref, image_id=info.id, ancestors=(*chain, info.id))

    # one build ---------------------------------------------------------------
    def build(self, name: str, *, cause: str = "manual", ci_tag: str = "", progress: Progress = _quiet,
              nocache: bool = False) -> BuildResult:
        """Build catalogue image ``name`` (and any missing catalogue base), validate it, tag it.

        Raises:
            NotFoundError: no such image in the catalogue.
            SetupError: its base cannot exist here (external base missing).
            ImageBuildError: the build failed.
            ImageValidationError: the image built but its validate self-test failed (it is not tagged).
        """
        entry = self.catalogue.get(name)
        return self.build_directory(entry.directory, cause=cause, ci_tag=ci_tag, progress=progress,
                                    nocache=nocache)

    def build_directory(self, directory: Path, *, cause: str = "manual", ci_tag: str = "",
                        progress: Progress = _quiet, repository: str | None = None,
                        extra_labels: dict[str, str] | None = None, nocache: bool = False) -> BuildResult:
        """Build the image described by ``directory`` (a catalogue-style dir, perhaps outside the repo).

        ``repository`` overrides ``benchfarm/<name>`` (tests build variants under their own names);
        ``extra_labels`` are added to the provenance labels.
        """
        return self._build(directory, load_spec(directory), cause=cause, ci_tag=ci_tag, progress=progress,
                           repository=repository, extra_labels=extra_labels, nocache=nocache, base_arg=True)

    def build_path(self, directory: Path, *, name: str | None = None, version: str | None = None,
                   cause: str = "manual", ci_tag: str = "", progress: Progress = _quiet,
                   extra_labels: dict[str, str] | None = None, nocache: bool = False) -> BuildResult:
        """Build any directory with a Dockerfile (bring your own benchmark), like a catalogue image.

        Name, version, base and validate come from the flags, an optional benchmark.yaml
        and the Dockerfile (see :mod:`benchfarm.images.directory`). A catalogue directory
        given by its path is built as the catalogue image.

        Raises:
            NotFoundError: not a directory, or no Dockerfile in it.
            SpecError: a bad name, version or benchmark.yaml, or the name of a catalogue image.
            SetupError: a base is not in the local engine.
            ImageBuildError: the build failed.
            ImageValidationError: the image's validate command failed (it is not tagged).
        """
        names = self.catalogue.names()
        resolved = directory.resolve()
        if resolved.parent == self.catalogue.root.resolve() and resolved.name in names:
            if name or version:
                raise SpecError(f"{directory} is the catalogue image {resolved.name}; its name and version are "
                                "in its benchmark.yaml", hint=f"build it with `benchfarm image build {resolved.name}`")
            return self.build(resolved.name, cause=cause, ci_tag=ci_tag, progress=progress, nocache=nocache)
        image = directory_image(directory, name=name, version=version, catalogue_names=names)
        if not image.has_metadata:
            progress(f"no {METADATA_FILE} in {directory}: name {image.spec.name}, version {image.spec.version}, "
                     f"base from the Dockerfile ({image.spec.base.ref or image.spec.base.kind})")
        built: list[str] = []
        for ref in image.other_bases:
            self._ensure_catalogue_image(ref, cause=cause, ci_tag=ci_tag, progress=progress, built=built)
            if not self.docker.exists(ref):
                raise SetupError(f"{directory}/Dockerfile has a stage FROM {ref}, which is not in the local Docker "
                                 "engine, and benchfarm never pulls bases from public registries",
                                 hint=f"`docker load` or pull {ref} into the engine, then rebuild")
        result = self._build(directory, image.spec, cause=cause, ci_tag=ci_tag, progress=progress,
                             extra_labels=extra_labels, nocache=nocache, base_arg=image.passes_base_arg)
        result.built_bases[:0] = built
        return result

    def _build(self, directory: Path, spec: ImageSpec, *, cause: str, ci_tag: str, progress: Progress,
               base_arg: bool, repository: str | None = None, extra_labels: dict[str, str] | None = None,
               nocache: bool = False) -> BuildResult:
        """Resolve the base, label, build, validate (when the spec has a command) and tag ``spec``."""
        built: list[str] = []
        base = self.resolve_base(spec, cause=cause, ci_tag=ci_tag, progress=progress, built=built)
        src = source_info(directory)
        provenance = L.Provenance(
            name=spec.name, version=spec.tag, description=spec.description,
            source=src.source, source_time=src.time, git_commit=src.commit, git_dirty=src.dirty,
            build_host=socket.gethostname(), build_cause=cause, ci_tag=ci_tag,
            base_name=base.ref, base_digest=base.image_id, ancestors=base.ancestors,
            benchmark=spec.metadata(), start=tuple(spec.start), validate=tuple(spec.validate_cmd),
            extra=dict(extra_labels or {}),
        )
        labels = L.build_labels(provenance)
        repo = repository or spec.repository
        progress(f"building {repo}:{spec.tag} from {base.ref or 'scratch'} (cause {cause})")
        with tempfile.TemporaryDirectory(prefix=f"benchfarm-build-{spec.name}-") as tmp:
            context = self._assemble_context(directory, spec, Path(tmp) / "context")
            image_id = self.docker.build(context, buildargs={"BASE": base.ref} if base.ref and base_arg else {},
                                         labels=labels, network=spec.build_network, progress=progress,
                                         nocache=nocache)
        output = self._validate(spec, image_id, progress)
        tags = [f"{repo}:{spec.tag}", f"{repo}:latest"]
        for t in tags:
            r, _, tg = t.rpartition(":")
            self.docker.tag(image_id, r, tg)
        self._record_build(image_id, repo, spec.tag, cause, ci_tag)
        progress(f"tagged usable: {', '.join(tags)} = {image_id}")
        return BuildResult(name=spec.name, image_id=image_id, tags=tags, labels=labels,
                           validate_output=output, built_bases=built, validated=bool(spec.validate_cmd))

    def _validate(self, spec: ImageSpec, image_id: str, progress: Progress) -> str:
        """Run the spec's validate command in a fresh container without network; its output.

        Raises:
            ImageValidationError: it exited non-zero (the image is not tagged).
        """
        if not spec.validate_cmd:
            progress(f"{spec.name} gives no validate command (benchmark.yaml `validate: [...]`): "
                     "tagged without a self-test")
            return ""
        progress(f"validating {image_id[:19]} with {' '.join(spec.validate_cmd)} (network none)")
        run = self.docker.run(image_id, spec.validate_cmd, timeout=300, network="none")
        if run.exit_code != 0:
            raise ImageValidationError(
                f"{spec.name}: validate exited {run.exit_code}; the image {image_id} was NOT tagged usable\n"
                + "\n".join(run.output.strip().splitlines()[-10:]),
                hint="fix the image or its validate script and rebuild",
            )
        return run.output.strip()

    def _ensure_catalogue_image(self, ref: str, *, cause: str, ci_tag: str, progress: Progress,
                                built: list[str]) -> None:
        """Build catalogue image ``ref`` (``benchfarm/<name>:<version|latest>``) when it is missing."""
        repository, _, tag = ref.rpartition(":")
        namespace, _, name = repository.partition("/")
        if namespace != IMAGE_NAMESPACE or name not in self.catalogue.names() or self.docker.exists(ref):
            return
        if tag not in ("latest", self.catalogue.get(name).spec.tag):
            return
        progress(f"base {ref} is missing: building the catalogue image {name} first")
        self.build(name, cause=cause, ci_tag=ci_tag, progress=progress)
        built.append(ref)

    # helpers -----------------------------------------------------------------
    @staticmethod
    def _assemble_context(directory: Path, spec: ImageSpec, context: Path) -> Path:
        """Copy the image dir plus its declared host files into a fresh build context.

        Raises:
            SetupError: a declared host file is missing.
        """
        shutil.copytree(directory, context, symlinks=False)
        for name, host_path in spec.host_files.items():
            src = Path(host_path)
            if not src.is_file():
                raise SetupError(f"{spec.name} needs {host_path} from this machine, which is missing",
                                 hint="install it (e.g. apt-get install busybox-static) and rebuild")
            shutil.copy2(src.resolve(), context / name)
        return context

    def _record_build(self, image_id: str, repository: str, tag: str, cause: str, ci_tag: str) -> None:
        """Append this build's wall-clock time, host and cause to the image's build record."""
        folder = self.settings.state_dir / "images" / "builds"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{image_id.rsplit(':', maxsplit=1)[-1]}.json"
        records = json.loads(path.read_text()) if path.is_file() else []
        records.append({"image_id": image_id, "ref": f"{repository}:{tag}", "cause": cause, "ci_tag": ci_tag,
                        "host": socket.gethostname(),
                        "built_at": datetime.now(UTC).isoformat(timespec="seconds")})
        path.write_text(json.dumps(records, indent=2))

    def build_records(self, image_id: str) -> list[dict]:
        """Every recorded build of ``image_id`` (the wall-clock build times), oldest first."""
        path = self.settings.state_dir / "images" / "builds" / f"{image_id.rsplit(':', maxsplit=1)[-1]}.json"
        return json.loads(path.read_text()) if path.is_file() else []
