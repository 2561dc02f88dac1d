"""Loading job specs from YAML/JSON with errors that name the field and, for a file, the line."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from benchfarm.errors import SpecError
from benchfarm.spec.model import JobSpec


def _line_index(text: str) -> dict[tuple, int]:
    """Map each key path in a YAML document to its 1-based line number."""
    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                p = path + (key.value,)
                lines[p] = key.start_mark.line + 1
                walk(value, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                p = path + (i,)
                lines[p] = item.start_mark.line + 1
                walk(item, p)

    if root is not None:
        walk(root, ())
    return lines


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the field at ``path`` (for 'did you mean')."""
    model: Any = JobSpec
    for part in path[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        model = next((a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)),
                     None)
        if model is None:
            args = getattr(ann, "__args__", ())
            model = next((a for a in args for a in getattr(a, "__args__", (a,))
                          if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return model


def _describe(exc: ValidationError, source: str, lines: dict[tuple, int]) -> str:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("function-after",)))
        path = ".".join(str(p) for p in loc) or "(document)"
        line = None
        for n in range(len(loc), 0, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        where = f"{source} line {line}: " if line else f"{source}: "
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            valid = list(model.model_fields) if model else []
            close = difflib.get_close_matches(str(loc[-1]), valid, n=3, cutoff=0.5)
            msg = f"unknown field {loc[-1]!r}" + (f" (did you mean {', '.join(close)}?)" if close else
                                                   f" (valid: {', '.join(valid)})" if valid else "")
        elif err["type"] == "missing":
            msg = "required field is missing"
        problems.append(f"{where}{path}: {msg}")
    return "\n".join(problems)


def load_spec_data(data: Any, *, source: str = "<request>", text: str | None = None) -> JobSpec:
    """Validate already-parsed data as a JobSpec; raises SpecError naming each bad field."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a job spec must be a mapping of fields, not {type(data).__name__}",
                        hint="see `benchfarm spec schema`")
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        lines = _line_index(text) if text is not None else {}
        raise SpecError(f"invalid job spec:\n{_describe(exc, source, lines)}",
                        hint="see `benchfarm spec schema` for every field") from None


def load_spec_text(text: str, source: str = "<string>") -> JobSpec:
    """Parse YAML (a superset of JSON) and validate it."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SpecError(f"{source}{where}: not valid YAML/JSON: {getattr(exc, 'problem', exc)}") from None
    return load_spec_data(data, source=source, text=text)


def load_spec_file(path: Path | str) -> JobSpec:
    """Read and validate a spec file; SpecError names the file, line and field of each problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read the job spec {path}: {exc.strerror}") from None
    return load_spec_text(text, source=str(path))
