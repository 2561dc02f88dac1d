"""Provenance labels for a built image (pure: no Docker, no git).

The OCI ``org.opencontainers.image.*`` annotations plus the farm's ``benchfarm.*``
set. Every label value is derived from the build's *inputs*, never from the
clock, so that rebuilding unchanged inputs hits the engine's build cache and
yields the same image id:

- ``org.opencontainers.image.created`` is the *source* time (the committer time
  of the last commit touching the image directory, or the newest mtime of the
  build context when it is not committed), in the spirit of reproducible-builds'
  ``SOURCE_DATE_EPOCH``. A wall-clock build time in a label would change the
  digest on every build; the wall-clock time of each build is recorded outside
  the image instead (the build record written by ``benchfarm.images.builder``).
- ``revision``/``benchfarm.git.commit`` is the last commit touching the image
  directory (not HEAD), so unrelated commits elsewhere in the repository do not
  change the image.
- build host, cause and CI tag *are* inputs: the same source built by CI and by
  hand gives two images that say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

OCI = "org.opencontainers.image"
BF = "benchfarm"

# label keys, in one place, for readers of images (runner, store, CLI)
CREATED = f"{OCI}.created"
REVISION = f"{OCI}.revision"
SOURCE = f"{OCI}.source"
VERSION = f"{OCI}.version"
TITLE = f"{OCI}.title"
DESCRIPTION = f"{OCI}.description"
BASE_DIGEST = f"{OCI}.base.digest"
BASE_NAME = f"{OCI}.base.name"
GIT_COMMIT = f"{BF}.git.commit"
GIT_DIRTY = f"{BF}.git.dirty"
BUILD_HOST = f"{BF}.build.host"
BUILD_CAUSE = f"{BF}.build.cause"
BUILD_CI_TAG = f"{BF}.build.ci_tag"
ANCESTORS = f"{BF}.ancestors"
BENCHMARK = f"{BF}.benchmark"
START = f"{BF}.start"
VALIDATE = f"{BF}.validate"
NAME = f"{BF}.name"
TEST = f"{BF}.test"

BUILD_CAUSES = ("manual", "ci", "timer")


@dataclass(frozen=True)
class Provenance:
    """Everything the labels say about one build."""

    name: str
    version: str
    description: str
    source: str               # where the build context came from (repo path or URL)
    source_time: str          # RFC 3339, derived from the inputs (see module docstring)
    git_commit: str           # "" when the context is not in git
    git_dirty: bool
    build_host: str
    build_cause: str
    ci_tag: str
    base_name: str            # "" for FROM scratch
    base_digest: str          # image id of the base, "" for FROM scratch
    ancestors: tuple[str, ...]  # image ids of the base chain, oldest first
    benchmark: dict[str, Any]
    start: tuple[str, ...]
    validate: tuple[str, ...]
    extra: dict[str, str] = field(default_factory=dict)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def build_labels(p: Provenance) -> dict[str, str]:
    """The label set for ``p``, every value a string (stable for equal inputs).

    Raises:
        ValueError: an unknown build cause.
    """
    if p.build_cause not in BUILD_CAUSES:
        raise ValueError(f"build cause must be one of {', '.join(BUILD_CAUSES)}, not {p.build_cause!r}")
    labels = {
        CREATED: p.source_time,
        REVISION: p.git_commit,
        SOURCE: p.source,
        VERSION: p.version,
        TITLE: p.name,
        DESCRIPTION: p.description,
        BASE_DIGEST: p.base_digest,
        BASE_NAME: p.base_name,
        NAME: p.name,
        GIT_COMMIT: p.git_commit,
        GIT_DIRTY: "true" if p.git_dirty else "false",
        BUILD_HOST: p.build_host,
        BUILD_CAUSE: p.build_cause,
        BUILD_CI_TAG: p.ci_tag,
        ANCESTORS: _json(list(p.ancestors)),
        BENCHMARK: _json(p.benchmark),
        START: _json(list(p.start)),
        VALIDATE: _json(list(p.validate)),
    }
    labels.update(p.extra)
    return labels


@dataclass(frozen=True)
class ImageProvenance:
    """Provenance read back from an image's labels (what result documents carry)."""

    image_id: str
    name: str
    version: str
    created: str
    git_commit: str
    git_dirty: bool
    build_host: str
    build_cause: str
    ci_tag: str
    base_name: str
    base_digest: str
    ancestors: list[str]
    benchmark: dict[str, Any]
    start: list[str]
    validate: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return default


def parse_labels(image_id: str, labels: dict[str, str] | None) -> ImageProvenance:
    """Read provenance from an image's labels; missing labels read as empty."""
    lab = labels or {}
    return ImageProvenance(
        image_id=image_id,
        name=lab.get(NAME, lab.get(TITLE, "")),
        version=lab.get(VERSION, ""),
        created=lab.get(CREATED, ""),
        git_commit=lab.get(GIT_COMMIT, ""),
        git_dirty=lab.get(GIT_DIRTY) == "true",
        build_host=lab.get(BUILD_HOST, ""),
        build_cause=lab.get(BUILD_CAUSE, ""),
        ci_tag=lab.get(BUILD_CI_TAG, ""),
        base_name=lab.get(BASE_NAME, ""),
        base_digest=lab.get(BASE_DIGEST, ""),
        ancestors=_loads(lab.get(ANCESTORS), []),
        benchmark=_loads(lab.get(BENCHMARK), {}),
        start=_loads(lab.get(START), []),
        validate=_loads(lab.get(VALIDATE), []),
    )
