"""Loading job specs from YAML or JSON with errors that name the field and, for a file, the line.

Every problem is reported at once, each as ``SOURCE line N: field.path: what is
wrong``. Line numbers come from composing the YAML node tree (``yaml.compose``),
which records where each key starts; JSON is YAML, so JSON files get lines too.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from benchfarm.errors import SpecError
from benchfarm.spec.model import JobSpec

HINT = "see `benchfarm spec schema` (or docs/job-spec.schema.json) for every field"

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec: the dotted field path ('' for the whole document), the line, the message."""

    path: str
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        where = f"{source} line {self.line}" if self.line else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "message": self.message}


class SpecValidationError(SpecError):
    """A spec failed validation; ``problems`` holds each one (field path, line, message)."""

    def __init__(self, source: str, problems: list[SpecProblem], *, hint: str | None = HINT) -> None:
        rendered = [p.render(source) for p in problems]
        message = rendered[0] if len(rendered) == 1 else (
            f"{source}: {len(rendered)} problems in the job spec:\n" + "\n".join(f"  {r}" for r in rendered))
        super().__init__(message, hint=hint)
        self.source = source
        self.problems = problems


# ---------------------------------------------------------------------------- line numbers
def _key_value(node: yaml.Node) -> Any:
    # keys are scalars in any sane spec; a complex key gets a placeholder that never matches
    return node.value if isinstance(node, yaml.ScalarNode) else object()


def index_lines(text: str) -> tuple[dict[Path_, int], list[SpecProblem]]:
    """Map each key path of a YAML/JSON document to its 1-based line, and report duplicate keys.

    Keys are the raw scalar strings, so a path from the parsed data matches when
    keys are plain text (as every JobSpec field is). Returns ({}, []) when the
    text does not compose (the parser reports that error itself).
    """
    lines: dict[Path_, int] = {}
    duplicates: list[SpecProblem] = []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines, duplicates

    visiting: set[int] = set()  # an alias can make the node graph cyclic (`a: &x [*x]`)

    def walk(node: yaml.Node, path: Path_) -> None:
        if id(node) in visiting:
            return
        visiting.add(id(node))
        try:
            _walk(node, path)
        finally:
            visiting.discard(id(node))

    def _walk(node: yaml.Node, path: Path_) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                k = _key_value(key)
                line = key.start_mark.line + 1
                if isinstance(k, str) and k in seen:
                    duplicates.append(SpecProblem(".".join(map(str, (*path, k))),
                                                  f"duplicate key (first at line {seen[k]}); "
                                                  "YAML keeps only the last one", line))
                elif isinstance(k, str):
                    seen[k] = line
                    lines[(*path, k)] = line
                walk(value, (*path, k))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return lines, duplicates


# ---------------------------------------------------------------------------- error descriptions
def _unwrap(tp: Any) -> list[Any]:
    """The concrete types inside Optional/Union/Annotated."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(tp) for t in _unwrap(a)]
    return [tp]


def _step(tp: Any, part: str | int) -> Any:
    """The type found at ``part`` inside a value of type ``tp`` (None when unknown)."""
    for t in _unwrap(tp):
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel) and isinstance(part, str) and part in t.model_fields:
            return t.model_fields[part].annotation
        if origin is dict and isinstance(part, str):
            return typing.get_args(t)[1]
        if origin is list and isinstance(part, int):
            return typing.get_args(t)[0]
    return None


def model_at(path: Path_) -> type[BaseModel] | None:
    """The pydantic model whose fields hold the last part of ``path`` (for "did you mean")."""
    tp: Any = JobSpec
    for part in path[:-1]:
        tp = _step(tp, part)
        if tp is None:
            return None
    return next((t for t in _unwrap(tp) if isinstance(t, type) and issubclass(t, BaseModel)), None)


def _data_path(loc: tuple[Any, ...], data: Any, missing: bool) -> Path_:
    """The part of a pydantic error location that addresses the data (drops union tags such as 'str')."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        elif missing and last:
            out.append(part)
    return tuple(out)


def _message(err: ErrorDetails, path: Path_) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        model = model_at(path)
        valid = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(path[-1]), valid, n=3, cutoff=0.5)
        if close:
            return f"unknown field {path[-1]!r} (did you mean {', '.join(close)}?)"
        return f"unknown field {path[-1]!r}" + (f" (valid fields: {', '.join(valid)})" if valid else "")
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    given = err.get("input")
    if kind != "value_error" and isinstance(given, (str, int, float, bool)) and not kind.startswith("undeclared"):
        msg = f"{msg} (got {given!r})"
    return msg


def describe(exc: ValidationError, data: Any, lines: dict[Path_, int]) -> list[SpecProblem]:
    """One SpecProblem per distinct field in a pydantic ValidationError, with its line when known."""
    merged: dict[str, SpecProblem] = {}
    for err in exc.errors():
        path = _data_path(tuple(err["loc"]), data, err["type"] == "missing")
        line = next((lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in lines), None)
        dotted = ".".join(str(p) for p in path)
        msg = _message(err, path)
        if dotted in merged:  # several union branches failed on one value: keep each reason once
            prev = merged[dotted]
            if msg not in prev.message:
                merged[dotted] = SpecProblem(dotted, f"{prev.message}; or {msg}", prev.line)
        else:
            merged[dotted] = SpecProblem(dotted, msg, line)
    return sorted(merged.values(), key=lambda p: (p.line or 0, p.path))


# ---------------------------------------------------------------------------- public API
def load_spec_data(data: Any, *, source: str = "<request>", text: str | None = None) -> JobSpec:
    """Validate already-parsed data (a dict from JSON or YAML) as a JobSpec.

    Args:
        data: the parsed document.
        source: how to name it in errors (a file path, ``<request>``).
        text: the document's text, when there is one, so errors carry line numbers.

    Raises:
        SpecValidationError (a SpecError): every problem, each naming its field and line.
    """
    lines, duplicates = index_lines(text) if text is not None else ({}, [])
    if not isinstance(data, dict):
        what = "an empty document" if data is None else f"a {type(data).__name__}"
        raise SpecValidationError(source, [SpecProblem("", f"a job spec must be a mapping of fields, not {what}",
                                                       1 if text is not None else None)])
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecValidationError(source, duplicates + describe(exc, data, lines)) from None
    if duplicates:
        raise SpecValidationError(source, duplicates)
    return spec


def load_spec_text(text: str, source: str = "<string>") -> JobSpec:
    """Parse a YAML or JSON job spec and validate it.

    Raises:
        SpecValidationError (a SpecError): the text is not YAML/JSON (with the line), or the spec is invalid.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        try:  # JSON that YAML's stricter whitespace rules refuse (tabs)
            data = json.loads(text)
        except ValueError:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            raise SpecValidationError(source, [SpecProblem("", f"not valid YAML or JSON: {problem}",
                                                           mark.line + 1 if mark else None)],
                                      hint="fix the syntax at that line (indentation, a ':' inside an "
                                           "unquoted value?)") from None
    return load_spec_data(data, source=source, text=text)


def load_spec_file(path: Path | str) -> JobSpec:
    """Read and validate a job spec file (YAML or JSON).

    Raises:
        SpecValidationError (a SpecError): the file cannot be read, or each problem with its line and field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise SpecValidationError(str(path), [SpecProblem("", f"cannot read the job spec: {reason}")],
                                  hint="check the path") from None
    return load_spec_text(text, source=str(path))


def load_specs_file(path: Path | str) -> list[JobSpec]:
    """A job spec file, or a burst file: a YAML/JSON list of job specs (``benchfarm submit`` sends it in bulk).

    Raises:
        SpecValidationError (a SpecError): as :func:`load_spec_file`; a list entry's problems name its index.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return [load_spec_file(path)]  # its error says why, with the line
    if not isinstance(data, list):
        return [load_spec_file(path)]
    if not data:
        raise SpecValidationError(str(path), [SpecProblem("", "a burst file must list at least one job spec")])
    return [load_spec_data(item, source=f"{path} [{i}]") for i, item in enumerate(data)]
