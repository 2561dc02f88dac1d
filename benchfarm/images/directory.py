"""Images from any directory with a Dockerfile: bring your own benchmark.

``benchfarm image build PATH`` builds a directory outside the catalogue with the
same provenance labels, validate step and tags as a catalogue image; this module
turns such a directory into the :class:`ImageSpec` the builder needs. A
``benchmark.yaml`` there is optional and may give any subset of the catalogue's
fields; what it leaves out comes from the flags or from the directory:

- **name**: ``--name``, else the file's ``name``, else the directory's name made
  into an image name (``My_Bench`` -> ``my_bench``). It may not be a catalogue
  image's name: ``benchfarm/sysbench:latest`` must stay the catalogue's.
- **version**: ``--version``, else the file's, else ``0.0.0-<12 hex digits>`` of a
  hash of the directory's files (paths, executable bits and contents; not
  ``.git``), so that an unchanged directory keeps its tag and a changed one gets a
  new tag. (Semver would write ``0.0.0+<hash>``, but ``+`` is not allowed in a
  Docker tag.)
- **base**: the file's ``base``, else the Dockerfile's last ``FROM`` (through
  stage aliases): ``scratch``; ``${BASE}`` without a default means the golden
  base, as in the catalogue; any other reference must already be in the local
  engine (benchfarm never pulls bases from public registries), except a catalogue
  image, which is built first when missing.
- **validate**: the file's ``validate``, else none: the build says so and the
  image's ``benchfarm.validate`` label is empty.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from benchfarm.errors import NotFoundError, SpecError
from benchfarm.images.catalogue import METADATA_FILE, ImageSpec

DOCKERFILE = "Dockerfile"
BASE_ARG = "BASE"
GOLDEN_BASE = "base"  # the catalogue image ${BASE} means when the Dockerfile gives it no default

_NAME_CHARS = re.compile(r"[^a-z0-9._-]+")
_VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_VAR = re.compile(r"\$\{(?P<braced>\w+)(?::-(?P<default>[^}]*))?\}|\$(?P<plain>\w+)")


def is_path_target(target: str, catalogue_names: list[str]) -> bool:
    """Whether ``benchfarm image build TARGET`` means a directory: a catalogue name never does;
    otherwise a target containing ``/`` or naming an existing directory does."""
    if target in catalogue_names:
        return False
    return "/" in target or Path(target).is_dir()


# ---------------------------------------------------------------------------- Dockerfile FROM lines
@dataclass(frozen=True)
class Stage:
    """One ``FROM`` of a Dockerfile: the reference (ARGs substituted; "" where one is unset) and its alias."""

    ref: str
    alias: str | None
    unset_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Froms:
    """The stages of a Dockerfile and the ARGs declared before its first FROM."""

    stages: list[Stage]
    args: dict[str, str | None] = field(default_factory=dict)  # name -> default (None: no default)

    def root(self, stage: Stage) -> Stage:
        """The stage whose base is an image: follows ``FROM <alias>`` back through earlier stages."""
        aliases = {s.alias: s for s in self.stages if s.alias}
        seen: set[str] = set()
        while stage.ref.lower() in aliases and stage.ref.lower() not in seen:
            seen.add(stage.ref.lower())
            stage = aliases[stage.ref.lower()]
        return stage


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _substitute(text: str, values: dict[str, str | None]) -> tuple[str, tuple[str, ...]]:
    unset: list[str] = []

    def one(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("plain")
        value = values.get(name)
        if value is None and m.group("default") is not None:
            value = m.group("default")
        if value is None:
            unset.append(name)
            return ""
        return value

    return _VAR.sub(one, text), tuple(unset)


def read_froms(text: str) -> Froms:
    """The ``FROM`` stages of Dockerfile ``text``.

    Raises:
        SpecError: no ``FROM`` instruction.
    """
    args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for instruction, rest in _instructions(text):
        if instruction == "ARG" and not stages:
            for decl in rest.split():
                key, sep, default = decl.partition("=")
                args[key] = default.strip("\"'") if sep else None
        elif instruction == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            if not words:
                continue
            ref, unset = _substitute(words[0], args)
            alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(ref=ref, alias=alias, unset_args=unset))
    if not stages:
        raise SpecError("the Dockerfile has no FROM instruction", hint="start it with e.g. FROM benchfarm/base:latest")
    return Froms(stages=stages, args=args)


def base_of(froms: Froms) -> dict[str, Any]:
    """``benchmark.yaml``'s ``base`` for the Dockerfile's final stage.

    Raises:
        SpecError: it is built FROM an ARG other than BASE that has no default.
    """
    root = froms.root(froms.stages[-1])
    if root.unset_args:
        if root.unset_args == (BASE_ARG,):
            return {"kind": "image", "name": GOLDEN_BASE}
        raise SpecError(f"the Dockerfile's FROM uses ${{{root.unset_args[0]}}}, which has no default",
                        hint=f"give it a default (ARG {root.unset_args[0]}=<image>) or use ARG BASE for the "
                             "golden base")
    if root.ref.lower() == "scratch":
        return {"kind": "scratch"}
    return {"kind": "external", "ref": root.ref}


def other_bases(froms: Froms) -> list[str]:
    """References of the earlier stages' bases (not aliases, not scratch, not ${BASE}): each must be local too."""
    final = froms.root(froms.stages[-1])
    refs: list[str] = []
    for stage in froms.stages:
        root = froms.root(stage)
        if root is final or root.unset_args or root.ref.lower() == "scratch" or root.ref in refs:
            continue
        refs.append(root.ref)
    return refs


# ---------------------------------------------------------------------------- name, version, spec
def content_hash(directory: Path) -> str:
    """sha256 (hex) of the directory's files: relative path, executable bit and content; ``.git`` left out."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            path = Path(root) / name
            if not path.is_file():
                continue
            rel = path.relative_to(directory).as_posix()
            executable = "x" if os.access(path, os.X_OK) else "-"
            digest.update(f"{rel}\0{executable}\0{path.stat().st_size}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def default_name(directory: Path) -> str:
    """The directory's name as an image name: lower case, other characters as ``-``.

    Raises:
        SpecError: nothing usable is left (give ``--name``).
    """
    name = _NAME_CHARS.sub("-", directory.resolve().name.lower()).strip("-._")
    if not name:
        raise SpecError(f"{directory} has no name usable as an image name", hint="give one with --name")
    return name


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}", hint="fix the YAML syntax") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(f"{path}: must be a YAML mapping", hint="see images/sysbench/benchmark.yaml for an example")
    return data


@dataclass(frozen=True)
class DirectoryImage:
    """What the builder needs to build a directory: its spec, the other stages' bases, and whether to pass BASE."""

    directory: Path
    spec: ImageSpec
    other_bases: list[str]
    passes_base_arg: bool  # the Dockerfile declares ARG BASE
    has_metadata: bool     # a benchmark.yaml was there


def directory_image(directory: Path, *, name: str | None = None, version: str | None = None,
                    catalogue_names: list[str] | tuple[str, ...] = ()) -> DirectoryImage:
    """Read ``directory`` (a Dockerfile, perhaps a benchmark.yaml) into what the builder needs.

    Args:
        directory: the build context.
        name, version: ``--name`` and ``--version`` (they win over benchmark.yaml).
        catalogue_names: names taken by catalogue images (refused as ``name``).

    Raises:
        NotFoundError: no such directory, or no Dockerfile in it.
        SpecError: a bad name, version or benchmark.yaml field, a catalogue image's name,
            or a Dockerfile without FROM.
    """
    if not directory.is_dir():
        raise NotFoundError(f"{directory} is not a directory",
                            hint="give a directory holding a Dockerfile, or a catalogue image name")
    dockerfile = directory / DOCKERFILE
    if not dockerfile.is_file():
        raise NotFoundError(f"{directory} has no {DOCKERFILE}", hint="an image directory needs a Dockerfile")
    meta_path = directory / METADATA_FILE
    data = _read_yaml(meta_path)
    froms = read_froms(dockerfile.read_text())
    data["name"] = name or data.get("name") or default_name(directory)
    data["version"] = version or data.get("version") or f"0.0.0-{content_hash(directory)[:12]}"
    if version is not None and not _VERSION.match(version):
        raise SpecError(f"--version {version!r} is not usable as an image tag",
                        hint="use letters, digits, '_', '.' and '-' (at most 128), e.g. 1.0.0")
    data.setdefault("description", f"built from {directory.resolve()}")
    data.setdefault("base", base_of(froms))
    data.setdefault("validate", [])
    source = meta_path if meta_path.is_file() else directory
    try:
        spec = ImageSpec.model_validate(data, context={"directory": True})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        flag = {"name": " (or --name)", "version": " (or --version)"}.get(where, "")
        raise SpecError(f"{source}: {where}{flag}: {first['msg']}",
                        hint="see images/sysbench/benchmark.yaml for the fields") from exc
    if spec.name in catalogue_names:
        raise SpecError(f"{spec.name!r} is the name of a catalogue image (images/{spec.name})",
                        hint="give this image another name with --name")
    return DirectoryImage(directory=directory, spec=spec, other_bases=other_bases(froms),
                          passes_base_arg=BASE_ARG in froms.args, has_metadata=meta_path.is_file())
