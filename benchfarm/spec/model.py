"""The job spec: what an engineer or Jenkins asks the farm to run, validated.

Unknown fields are refused (a typo must not be silently ignored). Sizes accept
``512m``/``2g``/bytes; a cpuset accepts ``0-3,6``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def parse_size(value: Any) -> int:
    """Bytes from ``512m``, ``2g``, ``1.5GiB`` or a plain integer."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size (use e.g. 512m or 2g)")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a size must be positive")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a size (use e.g. 512m or 2g)")
    unit = (m.group(2) or "").lower().rstrip("b").rstrip("i")
    size = int(float(m.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


def cpuset_cpus(cpuset: str) -> list[int]:
    """The CPU numbers of a cpuset string such as ``0-3,6``."""
    cpus: list[int] = []
    for part in cpuset.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Direction(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


class MetricSpec(_Strict):
    unit: str = ""
    direction: Direction = Direction.HIGHER


class ResultsSpec(_Strict):
    """How the benchmark reports results."""

    format: Literal["json-lines", "json-file"] = "json-lines"
    path: str = "/results/result.json"
    metrics: dict[str, MetricSpec] = Field(default_factory=dict)

    @field_validator("path")
    @classmethod
    def _under_results(cls, v: str) -> str:
        if not v.startswith("/results/"):
            raise ValueError("the results file must be under /results/ (the only writable directory besides /tmp)")
        return v


class Resources(_Strict):
    cpus: float | None = Field(default=None, gt=0, description="CPU quota, e.g. 1.5")
    cpuset: str | None = Field(default=None, description="explicit CPUs, e.g. 0-3,6")
    memory: str | int | None = Field(default=None, description="memory limit, e.g. 512m or 2g")

    @field_validator("cpuset")
    @classmethod
    def _cpuset(cls, v: str | None) -> str | None:
        if v is not None and not _CPUSET.match(v.replace(" ", "")):
            raise ValueError(f"{v!r} is not a cpuset (use e.g. 0-3,6)")
        return None if v is None else v.replace(" ", "")

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str | int | None) -> str | int | None:
        if v is not None:
            parse_size(v)
        return v

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else parse_size(self.memory)


class GpuRequirement(_Strict):
    count: int = Field(default=1, ge=1)
    model: str | None = Field(default=None, description="regular expression on the GPU model name")

    @field_validator("model")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        return _check_regex(v)


class FpgaRequirement(_Strict):
    count: int = Field(default=1, ge=1)
    vendor: str | None = None
    model: str | None = Field(default=None, description="regular expression on the FPGA model")

    @field_validator("model")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        return _check_regex(v)


def _check_regex(v: str | None) -> str | None:
    if v is not None:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"{v!r} is not a valid regular expression: {exc}") from exc
    return v


class Requirements(_Strict):
    pool: str | None = None
    cpu_vendor: str | None = None
    cpu_model: str | None = Field(default=None, description="regular expression on the CPU model name")
    gpu: GpuRequirement | None = None
    fpga: FpgaRequirement | None = None
    min_memory: str | int | None = None

    @field_validator("cpu_model")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        return _check_regex(v)

    @field_validator("min_memory")
    @classmethod
    def _mem(cls, v: str | int | None) -> str | int | None:
        if v is not None:
            parse_size(v)
        return v

    @property
    def min_memory_bytes(self) -> int | None:
        return None if self.min_memory is None else parse_size(self.min_memory)


class DeviceSpec(_Strict):
    host_path: str
    container_path: str | None = None
    permissions: str = "rwm"

    @field_validator("permissions")
    @classmethod
    def _perms(cls, v: str) -> str:
        if not v or set(v) - set("rwm"):
            raise ValueError(f"{v!r}: permissions are a combination of r, w and m")
        return v

    @field_validator("host_path", "container_path")
    @classmethod
    def _dev(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/dev/"):
            raise ValueError(f"{v!r} is not a device path under /dev/")
        return v


class AdaptiveRepetitions(_Strict):
    target_cv: float = Field(gt=0, description="stop once the coefficient of variation is below this")
    min_repetitions: int = Field(default=3, ge=2)
    max_repetitions: int = Field(default=30, ge=2)

    @model_validator(mode="after")
    def _bounds(self) -> "AdaptiveRepetitions":
        if self.max_repetitions < self.min_repetitions:
            raise ValueError("max_repetitions must be at least min_repetitions")
        return self


class Thresholds(_Strict):
    max_regression_pct: float = Field(default=5.0, ge=0)
    per_metric: dict[str, float] = Field(default_factory=dict)


LabelValue = Annotated[str | int | float | bool, Field()]


class JobSpec(_Strict):
    """A benchmark job."""

    name: str = Field(description="lower-case name of the benchmark, e.g. cpu-sysbench")
    image: str = Field(description="image tag or name@sha256:digest")
    command: list[str] | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    warmup: int = Field(default=1, ge=0, le=100)
    repetitions: int = Field(default=5, ge=1, le=1000)
    fresh_container_per_repetition: bool = True
    adaptive: AdaptiveRepetitions | None = None
    timeout_s: float = Field(default=600, gt=0, le=7 * 24 * 3600)
    resources: Resources = Field(default_factory=Resources)
    requirements: Requirements = Field(default_factory=Requirements)
    devices: list[DeviceSpec] = Field(default_factory=list)
    network: Literal["none", "bridge", "host"] = "none"
    cap_add: list[str] = Field(default_factory=list)
    results: ResultsSpec = Field(default_factory=ResultsSpec)
    labels: dict[str, LabelValue] = Field(default_factory=dict)
    priority: int = Field(default=5, ge=0, le=9, description="9 is served first")
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r}: use lower-case letters, digits, '.', '_' and '-' (at most 100)")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not v.strip() or any(c.isspace() for c in v):
            raise ValueError(f"{v!r} is not an image reference")
        return v
