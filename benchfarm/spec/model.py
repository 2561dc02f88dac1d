"""The job spec: what an engineer or Jenkins asks the farm to run, validated.

Unknown fields are refused everywhere (a typo must not be silently ignored),
numbers are not taken from booleans or strings, sizes accept ``512m``/``2g``/bytes
and a cpuset accepts ``0-3,6``. ``benchfarm spec schema`` prints the JSON Schema
generated from these models (committed as docs/job-spec.schema.json).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from benchfarm.errors import UserInputError
from benchfarm.power.table import load_power_table
from benchfarm.spec.fields import (
    RESULTS_MOUNT,
    check_cpuset,
    check_image_reference,
    check_regex,
    cpuset_cpus,
    normalize_capability,
    parse_size,
)
from benchfarm.spec.result_formats import ResultFormat

__all__ = [
    "AdaptiveRepetitions",
    "DeviceSpec",
    "Direction",
    "FpgaRequirement",
    "GpuRequirement",
    "JobSpec",
    "MetricSpec",
    "Requirements",
    "Resources",
    "ResultFormat",
    "ResultsSpec",
    "Thresholds",
    "cpuset_cpus",
    "parse_size",
]

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")

StrictInt = Annotated[int, Strict()]
StrictFloat = Annotated[float, Strict()]  # strict floats still take ints, never bools or strings


def _size(v: Any) -> Any:
    parse_size(v)  # raises ValueError naming the bad value
    return v


def _env_value(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        raise ValueError(f"{v!r} is not text; quote it, e.g. \"{'' if v is None else str(v).lower()}\"")
    return str(v) if isinstance(v, (int, float)) else v


def _label_value(v: Any) -> Any:
    if not isinstance(v, (str, int, float, bool)):
        raise ValueError(f"{v!r}: a label is a string, a number or a boolean")
    return v


def _string_list(v: Any) -> Any:
    if isinstance(v, str):
        raise ValueError(f"{v!r}: write it as a list of arguments, e.g. [\"sh\", \"-c\", \"...\"]")
    return v


SIZE_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*([kKmMgGtT][iI]?[bB]?|[bB])?\s*$"
Size = Annotated[
    Annotated[str, Field(json_schema_extra={"pattern": SIZE_PATTERN})] | Annotated[StrictInt, Field(gt=0)],
    BeforeValidator(_size),
    Field(description="a size: bytes, or a number with k, m, g or t (binary), e.g. 512m"),
]
EnvValue = Annotated[str, BeforeValidator(_env_value)]
StringList = Annotated[list[str], BeforeValidator(_string_list)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Direction(StrEnum):
    """Which way is better for a metric."""

    HIGHER = "higher"
    LOWER = "lower"


class MetricSpec(_Strict):
    """One metric the benchmark reports."""

    unit: str = Field(default="", description="unit shown with the value, e.g. events/s, MB/s, ms")
    direction: Direction = Field(default=Direction.HIGHER, description="higher or lower is better")


class ResultsSpec(_Strict):
    """How the benchmark reports its results: the format, where to read it, and the metrics to keep.

    Read from stdout, or from ``path`` under /results. ``auto`` detects a tool's JSON
    document (Google Benchmark, pytest-benchmark, fio, BMF), a JSON object, or JSON
    lines; ``patterns`` alone mean ``regex``. Tools that report several benchmarks give
    metrics named ``<benchmark>.<measure>``, e.g. ``BM_Sort_1024.real_time``.
    """

    format: ResultFormat = Field(
        default=ResultFormat.AUTO,
        description="auto (detect JSON lines, a JSON object, BMF, Google Benchmark, pytest-benchmark or fio), "
                    "json-lines, json-file, bmf, google-benchmark, pytest-benchmark, fio, or regex (see patterns)")
    path: str | None = Field(default=None, description="a results file under /results to read instead of stdout "
                                                        "(json-file: /results/result.json unless given)")
    patterns: list[str] = Field(default_factory=list,
                                description="format regex: regular expressions searched in each line of the "
                                            "output; each named group, e.g. (?P<events_per_second>[0-9.]+), "
                                            "is a metric")
    metrics: dict[str, MetricSpec] = Field(default_factory=dict,
                                           description="metric name -> unit and direction; each must be reported")

    @field_validator("path")
    @classmethod
    def _under_results(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith(f"{RESULTS_MOUNT}/") or "/../" in v + "/" or v.endswith("/")):
            raise ValueError(f"{v!r}: the results file must be a file under {RESULTS_MOUNT}/ "
                             "(the only writable directory besides /tmp)")
        return v

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for pattern in v:
            check_regex(pattern)
            groups = list(re.compile(pattern).groupindex)
            if not groups:
                raise ValueError(f"{pattern!r} has no named group; name each number to keep, "
                                 "e.g. events per second:\\s+(?P<events_per_second>[0-9.]+)")
            for name in groups:
                if not _METRIC_NAME.match(name):
                    raise ValueError(f"group {name!r} in {pattern!r} is not a metric name (letters, digits, '_')")
        return v

    @field_validator("metrics")
    @classmethod
    def _metric_names(cls, v: dict[str, MetricSpec]) -> dict[str, MetricSpec]:
        for name in v:
            if not _METRIC_NAME.match(name):
                raise ValueError(f"{name!r} is not a metric name (letters, digits, '_', '.', '-'; "
                                 "starting with a letter or '_')")
        return v

    @model_validator(mode="after")
    def _format_needs(self) -> ResultsSpec:
        if self.patterns and self.format is ResultFormat.AUTO:
            self.format = ResultFormat.REGEX  # patterns say how to read the output; nothing to detect
        if self.format is ResultFormat.REGEX and not self.patterns:
            raise ValueError("format regex needs patterns: regular expressions with named groups, "
                             "e.g. ['events per second:\\s+(?P<events_per_second>[0-9.]+)']")
        if self.patterns and self.format is not ResultFormat.REGEX:
            raise ValueError(f"patterns are for format regex, not {self.format}; remove them or the format")
        default_file = f"{RESULTS_MOUNT}/result.json"
        if self.format is ResultFormat.JSON_FILE and self.path is None:
            self.path = default_file
        elif self.format is ResultFormat.JSON_LINES and self.path == default_file:
            # Specs stored before path became optional carry json-file's default with json-lines, which
            # always meant stdout; read a file of JSON lines there with format auto.
            self.path = None
        return self


class Resources(_Strict):
    """What the benchmark container may use: a CPU quota or explicit CPUs, a memory limit and a pids limit.

    Every container has a memory and a pids limit: the host's defaults unless the job asks
    for less, or for more up to the host's maximum (a job asking more than any host allows is
    refused at submit).
    """

    cpus: StrictFloat | None = Field(default=None, gt=0, description="CPU quota in CPUs, e.g. 1.5")
    cpuset: str | None = Field(default=None, description="explicit CPUs, e.g. 0-3,6",
                               json_schema_extra={"pattern": r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$"})
    memory: Size | None = Field(default=None, description="memory limit without swap, e.g. 512m or 2g "
                                                          "(default: the host's default_memory)")
    # at least 8 (capabilities.MIN_PIDS_LIMIT): the container's init, a shell and a child
    pids: StrictInt | None = Field(default=None, ge=8, description="the most processes and threads at once "
                                                                   "(default: the host's default_pids_limit)")

    @field_validator("cpuset")
    @classmethod
    def _cpuset(cls, v: str | None) -> str | None:
        return None if v is None else check_cpuset(v)

    @property
    def memory_bytes(self) -> int | None:
        """The memory limit in bytes, or None for no limit."""
        return None if self.memory is None else parse_size(self.memory)


class GpuRequirement(_Strict):
    """GPUs the job needs; they reach the container through Docker device_requests."""

    count: StrictInt = Field(default=1, ge=1, description="how many GPUs")
    model: str | None = Field(default=None, description="regular expression on the GPU model name, e.g. 'H100|A100'")

    @field_validator("model")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        return check_regex(v)


class FpgaRequirement(_Strict):
    """FPGA cards the job needs."""

    count: StrictInt = Field(default=1, ge=1, description="how many FPGA cards")
    vendor: str | None = Field(default=None, description="xilinx or intel (case does not matter)")
    model: str | None = Field(default=None, description="regular expression on the FPGA model, e.g. 'u2[58]0'")

    @field_validator("model")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        return check_regex(v)


class Requirements(_Strict):
    """What a host must have to run the job; the scheduler matches these against host capabilities."""

    pool: str | None = Field(default=None, description="the pool the host must be in")
    cpu_vendor: str | None = Field(default=None, description="CPU vendor, e.g. GenuineIntel or AuthenticAMD "
                                                             "(case-insensitive substring)")
    cpu_model: str | None = Field(default=None, description="regular expression on the CPU model name, e.g. 'EPYC'")
    gpu: GpuRequirement | None = None
    fpga: FpgaRequirement | None = None
    min_memory: Size | None = Field(default=None, description="the least host memory, e.g. 64g")

    @field_validator("cpu_model")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        return check_regex(v)

    @property
    def min_memory_bytes(self) -> int | None:
        """``min_memory`` in bytes, or None."""
        return None if self.min_memory is None else parse_size(self.min_memory)


class DeviceSpec(_Strict):
    """A device node mapped into the container; the host's allow-list must permit it."""

    host_path: str = Field(description="device node on the host, e.g. /dev/xclmgmt12345")
    container_path: str | None = Field(default=None, description="path inside the container (default: host_path)")
    permissions: str = Field(default="rwm", description="cgroup permissions: a combination of r, w and m")

    @field_validator("permissions")
    @classmethod
    def _perms(cls, v: str) -> str:
        if not v or set(v) - set("rwm") or len(set(v)) != len(v):
            raise ValueError(f"{v!r}: permissions are a combination of r, w and m (e.g. rw)")
        return v

    @field_validator("host_path", "container_path")
    @classmethod
    def _dev(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("/dev/") or "/../" in v + "/"):
            raise ValueError(f"{v!r} is not a device path under /dev/")
        return v

    @model_validator(mode="after")
    def _same_path_by_default(self) -> DeviceSpec:
        if self.container_path is None:
            self.container_path = self.host_path
        return self


class AdaptiveRepetitions(_Strict):
    """Repeat until the values are steady enough, by one of two rules.

    ``target_cv``: until the coefficient of variation of every declared metric is at most this.
    ``detect_change_pct``: until the farm's power table (``benchfarm.power.table``, measured by
    ``bench/verdict_power.py``) says the repetitions so far, at the noise they show, catch a change of
    this many percent against a baseline as noisy in at least ``power`` of comparisons, at the metric's
    threshold. Between ``min_repetitions`` and ``max_repetitions`` measured repetitions; replaces
    ``repetitions``.
    """

    target_cv: StrictFloat | None = Field(default=None, gt=0, lt=1,
                                          description="stop once stdev/mean is at most this, e.g. 0.02")
    detect_change_pct: StrictFloat | None = Field(
        default=None, gt=0, le=100, description="stop once a change of this many percent would be caught "
                                                "(the power table's rows: 2, 5, 10 at thresholds 1, 3, 5)")
    power: StrictFloat = Field(default=0.9, ge=0.5, le=0.99,
                               description="with detect_change_pct: the share of comparisons that must catch it")
    min_repetitions: StrictInt = Field(default=3, ge=2, description="repetitions always run")
    max_repetitions: StrictInt = Field(default=30, ge=2, le=1000, description="give up converging after this many")

    @model_validator(mode="after")
    def _bounds(self) -> AdaptiveRepetitions:
        if (self.target_cv is None) == (self.detect_change_pct is None):
            raise ValueError("give exactly one of target_cv (e.g. 0.02) and detect_change_pct (e.g. 5)")
        if self.max_repetitions < self.min_repetitions:
            raise ValueError(f"max_repetitions ({self.max_repetitions}) must be at least "
                             f"min_repetitions ({self.min_repetitions})")
        return self


class Thresholds(_Strict):
    """How much worse than the baseline a metric may get before the verdict is a regression."""

    max_regression_pct: StrictFloat = Field(default=5.0, ge=0, description="for every metric, in percent")
    per_metric: dict[str, Annotated[StrictFloat, Field(ge=0)]] = Field(
        default_factory=dict, description="metric name -> its own limit in percent")


LabelValue = Annotated[str | StrictInt | StrictFloat | bool, BeforeValidator(_label_value)]


class JobSpec(_Strict):
    """A benchmark job: which image to run, how often, where, and how it reports results."""

    name: str = Field(description="the benchmark's name: lower-case letters, digits, '.', '_', '-'; "
                                  "e.g. cpu-sysbench", json_schema_extra={"pattern": _NAME.pattern})
    image: str = Field(description="image reference: a tag (benchfarm/sysbench:latest) or a digest "
                                   "(name@sha256:...); the digest actually run is pinned at submit")
    command: StringList | None = Field(default=None, description="replaces the image's command; default: the image's")
    args: StringList = Field(default_factory=list, description="appended to the command")
    env: dict[str, EnvValue] = Field(default_factory=dict,
                                     description="environment variables (numbers are taken as text)")
    warmup: StrictInt = Field(default=1, ge=0, le=100, description="repetitions run first and not measured")
    repetitions: StrictInt = Field(default=5, ge=1, le=1000, description="measured repetitions")
    fresh_container_per_repetition: bool = Field(
        default=True, description="a new container for every repetition (false: one container started again)")
    adaptive: AdaptiveRepetitions | None = None
    timeout_s: StrictFloat = Field(default=600, gt=0, le=7 * 24 * 3600,
                                   description="seconds one repetition may run before it is killed")
    resources: Resources = Field(default_factory=Resources)
    requirements: Requirements = Field(default_factory=Requirements)
    devices: list[DeviceSpec] = Field(default_factory=list, description="device nodes mapped into the container")
    network: Literal["none", "bridge", "host"] = Field(
        default="none", description="the container's network: none, or bridge or host where the host's policy "
                                    "allows it (allowed_networks)")
    cap_add: StringList = Field(default_factory=list,
                               description="Linux capabilities to add (all are dropped), e.g. SYS_NICE")
    results: ResultsSpec = Field(default_factory=ResultsSpec)
    labels: dict[str, LabelValue] = Field(default_factory=dict,
                                          description="free labels stored with the results: git_ref, ci_build, owner")
    priority: StrictInt = Field(default=5, ge=0, le=9, description="0..9, 9 is served first")
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r}: use lower-case letters, digits, '.', '_' and '-', starting and ending "
                             "with a letter or digit (at most 100)")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check_image_reference(v)

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not _ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name (letters, digits and '_')")
        return v

    @field_validator("cap_add")
    @classmethod
    def _caps(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(normalize_capability(c) for c in v))

    @model_validator(mode="after")
    def _cross_field(self) -> JobSpec:
        declared = self.results.metrics
        errors = []
        if declared:
            for name, pct in self.thresholds.per_metric.items():
                if name not in declared:
                    errors.append(InitErrorDetails(
                        type=PydanticCustomError("undeclared_metric",
                                                 "{name} is not a metric in results.metrics ({declared})",
                                                 {"name": repr(name), "declared": ", ".join(declared)}),
                        loc=("thresholds", "per_metric", name), input=pct))
        if self.adaptive and self.adaptive.detect_change_pct is not None:
            errors += self._power_table_errors(self.adaptive.detect_change_pct)
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def _power_table_errors(self, effect_pct: float) -> list[InitErrorDetails]:
        """Adaptive repetitions by power need the table's row for the change and each threshold in use."""
        table = load_power_table()
        in_use = set(self.thresholds.per_metric.values())
        if not self.results.metrics or set(self.results.metrics) - set(self.thresholds.per_metric):
            in_use.add(self.thresholds.max_regression_pct)
        errors = []
        for threshold in sorted(in_use):
            try:
                table.case(effect_pct, threshold)
            except UserInputError as exc:
                errors.append(InitErrorDetails(
                    type=PydanticCustomError("no_power_row", "{message}; {hint}",
                                             {"message": exc.message, "hint": exc.hint or ""}),
                    loc=("adaptive", "detect_change_pct"), input=effect_pct))
        return errors

    def threshold_pct(self, metric: str) -> float:
        """The largest regression of ``metric`` that still passes, in percent."""
        return self.thresholds.per_metric.get(metric, self.thresholds.max_regression_pct)

    @property
    def measured_repetitions_max(self) -> int:
        """The most measured repetitions this job can run (``adaptive.max_repetitions`` when adaptive)."""
        return self.adaptive.max_repetitions if self.adaptive else self.repetitions
