"""The image catalogue: one directory per image under ``images/``, each with a
``Dockerfile`` and a ``benchmark.yaml`` describing it.

``benchmark.yaml`` fields (see ``ImageSpec``): name, version, description, kind
(``base`` or ``benchmark``), what it is built from (``base``), how results come
out (``result``), the metrics it reports (unit and better direction), and the
commands that start it and self-test it (``start``, ``validate``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from benchfarm.errors import NotFoundError, SpecError
from benchfarm.spec.fields import RESULTS_MOUNT
from benchfarm.spec.result_formats import ResultFormat  # the formats a job spec's results.format reads

METADATA_FILE = "benchmark.yaml"
IMAGE_NAMESPACE = "benchfarm"


class Direction(StrEnum):
    HIGHER = "higher"  # higher is better
    LOWER = "lower"    # lower is better


class Metric(BaseModel):
    """One number a benchmark reports."""

    model_config = ConfigDict(extra="forbid")
    name: str
    unit: str
    direction: Direction
    description: str = ""


class ResultSpec(BaseModel):
    """Where and how a benchmark's results come out."""

    model_config = ConfigDict(extra="forbid")
    format: ResultFormat
    path: str | None = None  # for json-file: the file under /results

    @model_validator(mode="after")
    def _path_for_file(self) -> ResultSpec:
        if self.format is ResultFormat.JSON_FILE and not (self.path and self.path.startswith(f"{RESULTS_MOUNT}/")):
            raise ValueError(f"result.path must name a file under {RESULTS_MOUNT}/ when result.format is json-file")
        return self


class BaseRef(BaseModel):
    """What an image is built FROM.

    ``image``: another catalogue entry (by name); ``scratch``: nothing; ``external``:
    an image that must already be in the local engine (``ref``), never pulled.
    """

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern="^(image|scratch|external|rootfs)$")
    name: str | None = None   # for kind=image
    ref: str | None = None    # for kind=external
    suite: str | None = None  # for kind=rootfs (debootstrap suite)

    @model_validator(mode="after")
    def _fields_for_kind(self) -> BaseRef:
        need = {"image": "name", "external": "ref", "rootfs": "suite"}.get(self.kind)
        if need and not getattr(self, need):
            raise ValueError(f"base.{need} is required when base.kind is {self.kind}")
        return self


class ImageSpec(BaseModel):
    """The parsed ``benchmark.yaml`` of one catalogue image."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    description: str
    kind: str = Field(default="benchmark", pattern="^(base|benchmark)$")
    base: BaseRef
    result: ResultSpec | None = None
    metrics: list[Metric] = Field(default_factory=list)
    start: list[str] = Field(default_factory=list)
    validate_cmd: list[str] = Field(alias="validate", default_factory=lambda: ["/usr/local/bin/validate"])
    build_network: str = Field(default="none", pattern="^(none|host)$")
    host_files: dict[str, str] = Field(default_factory=dict)  # context name -> host path copied in
    requires: dict[str, Any] = Field(default_factory=dict)    # e.g. {"gpu": {"vendor": "nvidia"}}

    @field_validator("start", "validate_cmd")
    @classmethod
    def _non_empty_strings(cls, v: list[str]) -> list[str]:
        if any(not isinstance(a, str) or not a for a in v):
            raise ValueError("commands are lists of non-empty strings")
        return v

    @model_validator(mode="after")
    def _benchmark_fields(self, info: ValidationInfo) -> ImageSpec:
        if (info.context or {}).get("directory"):
            return self  # an image built from a user's directory: every field is optional (images/directory.py)
        if self.kind == "benchmark" and (self.result is None or not self.metrics or not self.start):
            raise ValueError("a benchmark image needs result, metrics and start")
        if not self.validate_cmd:
            raise ValueError("every image needs a validate command")
        return self

    @property
    def repository(self) -> str:
        """The local repository name, e.g. ``benchfarm/sysbench``."""
        return f"{IMAGE_NAMESPACE}/{self.name}"

    @property
    def tag(self) -> str:
        """The version tag; the base carries its suite too (``bookworm-1``)."""
        if self.base.kind == "rootfs":
            return f"{self.base.suite}-{self.version}"
        return self.version

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"

    def metadata(self) -> dict[str, Any]:
        """The metadata stored in the ``benchfarm.benchmark`` label (JSON-safe, stable order)."""
        return json.loads(self.model_dump_json(by_alias=True, exclude={"host_files", "build_network"}))


class CatalogueEntry(BaseModel):
    """An image spec and the directory it lives in."""

    spec: ImageSpec
    directory: Path


def load_spec(directory: Path) -> ImageSpec:
    """Parse ``directory/benchmark.yaml``.

    Raises:
        NotFoundError: no benchmark.yaml there.
        SpecError: the file is not valid YAML or misses/mistypes a field (the message names it).
    """
    path = directory / METADATA_FILE
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist", hint="each image directory needs a benchmark.yaml")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}", hint="fix the YAML syntax") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: must be a YAML mapping", hint="see images/sysbench/benchmark.yaml for an example")
    try:
        spec = ImageSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise SpecError(f"{path}: {where}: {first['msg']}",
                        hint="see images/sysbench/benchmark.yaml for an example") from exc
    if spec.name != directory.name:
        raise SpecError(f"{path}: name {spec.name!r} differs from its directory {directory.name!r}",
                        hint="name the directory after the image")
    return spec


class Catalogue:
    """The images under one ``images/`` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        """Names of every directory holding a benchmark.yaml, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / METADATA_FILE).is_file())

    def get(self, name: str) -> CatalogueEntry:
        """The entry named ``name``.

        Raises:
            NotFoundError: no such image directory.
        """
        directory = self.root / name
        if not (directory / METADATA_FILE).is_file():
            raise NotFoundError(f"no image named {name!r} in {self.root}",
                                hint=f"known images: {', '.join(self.names()) or '(none)'}")
        return CatalogueEntry(spec=load_spec(directory), directory=directory)

    def entries(self) -> list[CatalogueEntry]:
        return [self.get(n) for n in self.names()]
