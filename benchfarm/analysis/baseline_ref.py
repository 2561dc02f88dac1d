"""Baseline references: the ``--baseline REF`` strings, parsed into typed models.

Forms (see :func:`parse_baseline_ref`):

- ``job-7f3a...`` or a UUID: one earlier job, by id;
- ``label:KEY=VALUE``: the latest successful job carrying that label;
- ``BRANCH@REF`` (e.g. ``main@3f2c1ab``, ``release/2.1@v2.1.0``): the latest
  successful job built from that git ref of that branch;
- ``latest``: the latest successful run of the same spec on the same hardware class.

Pure parsing: resolving a reference against the store happens elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from benchfarm.errors import UserInputError

_FORMS_HINT = (
    "use a job id (job-... or a UUID), 'label:KEY=VALUE', 'BRANCH@GITREF' (e.g. main@3f2c1ab) or 'latest'"
)
_JOB_ID = re.compile(r"job-[A-Za-z0-9][A-Za-z0-9._-]*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]*")
# A subset of `git check-ref-format`: no whitespace or control characters, none of
# ~^:?*[\ or '@', and no '..', '//' or '/.'; not starting or ending with '/' or '.'; no '.lock' end.
_GIT_NAME = re.compile(r"[^\s\x00-\x1f\x7f~^:?*\[\\@]+")


@dataclass(frozen=True)
class JobRef:
    """A baseline named by job id."""

    job_id: str
    kind: Literal["job"] = "job"

    def __str__(self) -> str:
        return self.job_id


@dataclass(frozen=True)
class LabelRef:
    """The latest successful job whose labels have ``key`` set to ``value``."""

    key: str
    value: str
    kind: Literal["label"] = "label"

    def __str__(self) -> str:
        return f"label:{self.key}={self.value}"


@dataclass(frozen=True)
class GitRef:
    """The latest successful job built from ``ref`` (a commit or tag) on ``branch``."""

    branch: str
    ref: str
    kind: Literal["git"] = "git"

    def __str__(self) -> str:
        return f"{self.branch}@{self.ref}"


@dataclass(frozen=True)
class LatestRef:
    """The latest successful run of the same spec on the same hardware class."""

    kind: Literal["latest"] = "latest"

    def __str__(self) -> str:
        return "latest"


BaselineRef = JobRef | LabelRef | GitRef | LatestRef


def parse_baseline_ref(text: str) -> BaselineRef:
    """Parse a ``--baseline`` string into a typed reference.

    ``str()`` of the result gives the canonical form back (UUIDs lower-cased).

    Args:
        text: the reference as the user wrote it; surrounding whitespace is ignored.

    Raises:
        UserInputError: the string matches none of the forms, or a part is malformed.
    """
    raw = str(text).strip()
    if not raw:
        raise UserInputError("empty baseline reference", hint=_FORMS_HINT)
    if raw.lower() == "latest":
        return LatestRef()
    if raw.startswith("label:"):
        return _parse_label(raw, raw[len("label:") :])
    if "@" in raw:
        return _parse_git(raw)
    if _JOB_ID.fullmatch(raw):
        return JobRef(raw)
    if _UUID.fullmatch(raw):
        return JobRef(raw.lower())
    raise UserInputError(f"cannot read baseline reference {raw!r}", hint=_FORMS_HINT)


def _parse_label(raw: str, body: str) -> LabelRef:
    key, sep, value = body.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise UserInputError(f"label baseline {raw!r} needs a KEY=VALUE", hint="e.g. label:release=2.1")
    if not _LABEL_KEY.fullmatch(key):
        raise UserInputError(
            f"label key {key!r} in {raw!r} has characters a label key cannot have",
            hint="label keys are letters, digits and _ . - /",
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UserInputError(f"label value in {raw!r} contains control characters", hint="remove them")
    return LabelRef(key=key, value=value)


def _parse_git(raw: str) -> GitRef:
    branch, _, ref = raw.partition("@")
    for part, what in ((branch, "branch"), (ref, "git ref")):
        if not _valid_git_name(part):
            raise UserInputError(
                f"baseline {raw!r}: {what} {part!r} is not a valid git name",
                hint="write BRANCH@GITREF with one '@', e.g. main@3f2c1ab or release/2.1@v2.1.0",
            )
    return GitRef(branch=branch, ref=ref)


def _valid_git_name(name: str) -> bool:
    return (
        bool(_GIT_NAME.fullmatch(name))
        and ".." not in name
        and "//" not in name
        and "/." not in name
        and not name.startswith(("/", "."))
        and not name.endswith(("/", ".", ".lock"))
    )
